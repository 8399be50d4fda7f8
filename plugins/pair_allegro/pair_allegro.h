/* pair_style allegro for AOTInductor-compiled nequip/Allegro models (.nequip.pt2), built as a
   LAMMPS plugin (`plugin load pair_allegro.so`). aiida-sei's own implementation; the syntax
   follows mir-group/pair_nequip_allegro so input scripts work with either:

     pair_style allegro
     pair_coeff * * model.nequip.pt2 Li P S Cl     # one model species per LAMMPS type

   Allegro is strictly local: every edge starts at a local atom, ghost atoms only carry
   positions, and the forces the model returns on ghosts are sent back to their owners by
   LAMMPS' reverse communication (newton on). */

#ifndef SEI_PAIR_ALLEGRO_H
#define SEI_PAIR_ALLEGRO_H

#include "pair.h"

#include <memory>
#include <string>
#include <vector>

namespace torch::inductor {
class AOTIModelPackageLoader;
}

namespace LAMMPS_NS {

class PairAllegro : public Pair {
 public:
  PairAllegro(class LAMMPS *);
  ~PairAllegro() override;
  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

 private:
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> model;
  std::vector<std::string> input_order, output_order;
  std::vector<std::string> model_species;    // the model's type names, in its type order
  std::string per_edge_type_cutoff;          // model metadata, empty if one cutoff for all
  std::vector<long> model_type;              // model type of each LAMMPS type (1..ntypes)
  std::vector<double> type_cutsq;            // squared cutoff per LAMMPS type pair
  double cutoff = 0.0;                       // the model's r_max (Å)

  void allocate();
  void load_model(const std::string &path);
  void map_types(char **names);
  void set_cutoffs();
};

}    // namespace LAMMPS_NS

#endif
