/* pair_style allegro: an AOTInductor-compiled nequip/Allegro model (see pair_allegro.h). */

#include "pair_allegro.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "utils.h"

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <ATen/ATen.h>

#include <fstream>
#include <sstream>
#include <unordered_map>

using namespace LAMMPS_NS;

namespace {

std::vector<std::string> split_words(const std::string &text)
{
  std::istringstream stream(text);
  std::vector<std::string> words;
  for (std::string word; stream >> word;) words.push_back(word);
  return words;
}

// torch exceptions carry a C++ backtrace after the first line
std::string first_line(const char *text)
{
  std::string message(text);
  return message.substr(0, message.find('\n'));
}

std::string join(const std::vector<std::string> &words)
{
  std::string out;
  for (const auto &word : words) out += (out.empty() ? "" : " ") + word;
  return out;
}

// nequip-compile exports with num_nodes, num_edges >= 2 (torch.export specialises 0 and 1)
constexpr int64_t MIN_EXPORTED_SIZE = 2;

}    // namespace

PairAllegro::PairAllegro(LAMMPS *lmp) : Pair(lmp)
{
  restartinfo = 0;
  manybody_flag = 1;
  one_coeff = 1;
  single_enable = 0;
}

PairAllegro::~PairAllegro()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

void PairAllegro::allocate()
{
  allocated = 1;
  const int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  for (int i = 0; i <= n; i++)
    for (int j = 0; j <= n; j++) setflag[i][j] = 0;
}

void PairAllegro::settings(int narg, char ** /*arg*/)
{
  if (narg > 0) error->all(FLERR, "pair_style allegro takes no arguments");
}

void PairAllegro::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg != 3 + ntypes)
    error->all(FLERR,
               "pair_coeff for pair_style allegro must be: * * model.nequip.pt2 followed by one "
               "species per atom type ({} types, got {} species)",
               ntypes, narg - 3);
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for pair_style allegro must start with * *");

  load_model(arg[2]);
  map_types(arg + 3);
}

void PairAllegro::load_model(const std::string &path)
{
  if (!std::ifstream(path).good())
    error->all(FLERR, "pair_style allegro: cannot read model file {}", path);
  try {
    model = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path);
  } catch (const std::exception &exception) {
    error->all(FLERR, "pair_style allegro: {} is not a loadable AOTInductor model package: {}",
               path, first_line(exception.what()));
  }
  auto metadata = model->get_metadata();
  for (const char *key : {"r_max", "type_names"})
    if (metadata.count(key) == 0)
      error->all(FLERR, "pair_style allegro: {} lacks the nequip metadata '{}'", path, key);

  // a model states its own argument order; older packages use the pair_allegro default
  input_order = metadata.count("nequip_aoti_inputs")
      ? split_words(metadata["nequip_aoti_inputs"])
      : std::vector<std::string>{"pos", "edge_index", "atom_types"};
  output_order = metadata.count("nequip_aoti_outputs")
      ? split_words(metadata["nequip_aoti_outputs"])
      : std::vector<std::string>{"atomic_energy", "forces", "virial"};
  for (const auto &name : input_order)
    if (name != "pos" && name != "edge_index" && name != "atom_types")
      error->all(FLERR,
                 "pair_style allegro: the model wants input '{}' (inputs: {}); compile it with "
                 "nequip-compile --target pair_allegro",
                 name, join(input_order));
  for (const char *name : {"atomic_energy", "forces"})
    if (std::find(output_order.begin(), output_order.end(), name) == output_order.end())
      error->all(FLERR, "pair_style allegro: the model does not output '{}'", name);

  model_species = split_words(metadata["type_names"]);
  cutoff = std::stod(metadata["r_max"]);
  per_edge_type_cutoff = metadata.count("per_edge_type_cutoff") ? metadata["per_edge_type_cutoff"] : "";
}

void PairAllegro::map_types(char **names)
{
  const int ntypes = atom->ntypes;
  model_type.assign(ntypes + 1, -1);
  for (int itype = 1; itype <= ntypes; itype++) {
    auto found = std::find(model_species.begin(), model_species.end(), names[itype - 1]);
    if (found == model_species.end())
      error->all(FLERR, "pair_style allegro: species {} (atom type {}) is not in the model (species: {})",
                 names[itype - 1], itype, join(model_species));
    model_type[itype] = found - model_species.begin();
  }
  for (int i = 1; i <= ntypes; i++)
    for (int j = 1; j <= ntypes; j++) setflag[i][j] = 1;
  if (comm->me == 0)
    utils::logmesg(lmp, "pair_style allegro: model species {}, cutoff {} A\n", join(model_species), cutoff);
  set_cutoffs();
}

// Squared cutoff per LAMMPS type pair: the model's per-edge-type cutoffs (row-major over the
// model's species, centre first) where it has them, else r_max.
void PairAllegro::set_cutoffs()
{
  const int ntypes = atom->ntypes;
  const size_t nspecies = model_species.size();
  std::vector<double> matrix(nspecies * nspecies, cutoff);
  if (!per_edge_type_cutoff.empty()) {
    auto words = split_words(per_edge_type_cutoff);
    if (words.size() != matrix.size())
      error->all(FLERR, "pair_style allegro: per_edge_type_cutoff has {} entries, expected {}",
                 words.size(), matrix.size());
    for (size_t k = 0; k < matrix.size(); k++) matrix[k] = std::stod(words[k]);
  }
  type_cutsq.assign((ntypes + 1) * (ntypes + 1), 0.0);
  for (int i = 1; i <= ntypes; i++)
    for (int j = 1; j <= ntypes; j++) {
      const double cut = matrix[model_type[i] * nspecies + model_type[j]];
      type_cutsq[i * (ntypes + 1) + j] = cut * cut;
    }
}

void PairAllegro::init_style()
{
  if (!model) error->all(FLERR, "pair_style allegro: no model loaded (pair_coeff missing)");
  if (atom->tag_enable == 0) error->all(FLERR, "pair_style allegro requires atom IDs");
  if (force->newton_pair == 0) error->all(FLERR, "pair_style allegro requires newton pair on");
  // full list of local atoms only: Allegro needs no edges that start at a ghost
  neighbor->add_request(this, NeighConst::REQ_FULL);
}

double PairAllegro::init_one(int, int)
{
  return cutoff;
}

void PairAllegro::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (vflag_atom) error->all(FLERR, "pair_style allegro does not compute per-atom virials");

  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  const int stride = atom->ntypes + 1;
  double **x = atom->x;
  double **f = atom->f;
  const int *type = atom->type;

  // edges i -> j (i local, j local or ghost) within the cutoff of their species pair
  std::vector<int64_t> centre, neighbour;
  for (int ii = 0; ii < list->inum; ii++) {
    const int i = list->ilist[ii];
    const int *jlist = list->firstneigh[i];
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
      if (dx * dx + dy * dy + dz * dz < type_cutsq[type[i] * stride + type[j]]) {
        centre.push_back(i);
        neighbour.push_back(j);
      }
    }
  }

  // Pad with two far-apart dummy atoms joined by beyond-cutoff edges when the graph is
  // smaller than the export allows: their edges are masked to zero, their energies unused.
  int64_t natoms = nall;
  if (static_cast<int64_t>(centre.size()) < MIN_EXPORTED_SIZE) {
    centre.insert(centre.end(), {natoms, natoms + 1});
    neighbour.insert(neighbour.end(), {natoms + 1, natoms});
    natoms += 2;
  }
  const int64_t nedges = centre.size();

  auto f64 = at::TensorOptions().dtype(at::kDouble);
  auto i64 = at::TensorOptions().dtype(at::kLong);
  at::Tensor pos = at::zeros({natoms, 3}, f64);
  at::Tensor types = at::zeros({natoms}, i64);
  auto pos_a = pos.accessor<double, 2>();
  auto types_a = types.accessor<int64_t, 1>();
  for (int i = 0; i < nall; i++) {
    for (int d = 0; d < 3; d++) pos_a[i][d] = x[i][d];
    types_a[i] = model_type[type[i]];
  }
  if (natoms > nall) pos_a[nall + 1][0] = pos_a[nall][0] + 2.0 * cutoff + 1.0;
  at::Tensor edge_index = at::empty({2, nedges}, i64);
  std::copy(centre.begin(), centre.end(), edge_index.data_ptr<int64_t>());
  std::copy(neighbour.begin(), neighbour.end(), edge_index.data_ptr<int64_t>() + nedges);

  std::unordered_map<std::string, at::Tensor> by_name = {
      {"pos", pos}, {"edge_index", edge_index}, {"atom_types", types}};
  std::vector<at::Tensor> inputs;
  for (const auto &name : input_order) inputs.push_back(by_name.at(name));

  std::vector<at::Tensor> outputs;
  try {
    outputs = model->run(inputs);
  } catch (const std::exception &exception) {
    error->one(FLERR, "pair_style allegro: model evaluation failed: {}", first_line(exception.what()));
  }
  std::unordered_map<std::string, at::Tensor> result;
  for (size_t k = 0; k < output_order.size() && k < outputs.size(); k++)
    result[output_order[k]] = outputs[k].to(at::kDouble).contiguous();

  // forces on ghosts too: LAMMPS sends them back to their owners (newton on)
  const double *forces = result.at("forces").data_ptr<double>();
  for (int i = 0; i < nall; i++)
    for (int d = 0; d < 3; d++) f[i][d] += forces[3 * i + d];

  // ghosts start no edges, so local atomic energies sum to this rank's share of the energy
  const double *atomic_energy = result.at("atomic_energy").data_ptr<double>();
  for (int i = 0; i < nlocal; i++) {
    if (eflag_global) eng_vdwl += atomic_energy[i];
    if (eflag_atom) eatom[i] += atomic_energy[i];
  }

  // sum over local and ghost atoms of x (x) f, before reverse communication
  if (vflag_fdotr) virial_fdotr_compute();
}
