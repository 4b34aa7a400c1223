"""wc.neural: perturbation screens, the CellBox network ODE with a neural correction term,
steady-state training with implicit gradients, and the field's metrics and baselines.

    import wholecell as wc
    data = wc.neural.load_cellbox("../shared/perturbation/cellbox_korkut2015_rppa")
    model = wc.neural.cellbox(99, 82, 87, key=jax.random.PRNGKey(0))
    fit = wc.neural.train(model, data.u, data.y, data.readouts, train_idx, val_idx)
    x = wc.neural.steady_state(fit.model, data.u)   # all conditions at once

Networks in the PEtab SciML format (YAML layers and forward graph, HDF5 arrays):

    net = wc.neural.load_network("net.yaml")
    params = wc.neural.load_parameters("net_ps.hdf5")[net.nn_model_id]
    y = net(params, x)
    prob = wc.neural.load_sciml_problem("problem.yaml")   # PEtab v2 + the sciml extension
    ev = prob.evaluate()        # log-likelihood, simulations and gradient, one program

Unseen perturbations of a genetic screen, scored against the baselines on K folds:

    screen = wc.neural.load_l1000("L1000_shRNA_A375.npz")
    ev = wc.neural.evaluate(screen, {"hybrid": wc.neural.network_method(hybrid=True)})
    ev.table()                                   # mean +- sd over folds, every metric
    ev.versus("hybrid", "pearson_delta")         # paired bootstrap vs the best baseline
"""

from ._cellbox import CellBox as CellBox
from ._cellbox import Correction as Correction
from ._cellbox import cellbox as cellbox
from ._cellbox import cellbox_mask as cellbox_mask
from ._data import CELLBOX_READOUTS as CELLBOX_READOUTS
from ._data import PerturbationData as PerturbationData
from ._data import load_cellbox as load_cellbox
from ._data import perturbation_inputs as perturbation_inputs
from ._evaluate import Fold as Fold
from ._evaluate import additive as additive
from ._evaluate import baselines as baselines
from ._evaluate import leave_one_drug_out as leave_one_drug_out
from ._evaluate import mae as mae
from ._evaluate import metrics as metrics
from ._evaluate import pearson as pearson
from ._evaluate import pearson_delta as pearson_delta
from ._evaluate import random_partition as random_partition
from ._evaluate import score as score
from ._evaluate import singles_to_pairs as singles_to_pairs
from ._sciml_arrays import load_inputs as load_inputs
from ._sciml_arrays import load_outputs as load_outputs
from ._sciml_arrays import load_parameters as load_parameters
from ._sciml_arrays import save_arrays as save_arrays
from ._sciml_export import export_correction as export_correction
from ._sciml_export import export_mlp as export_mlp
from ._sciml_export import save_sciml as save_sciml
from ._sciml_network import Network as Network
from ._sciml_network import load_network as load_network
from ._sciml_network import network_from_dict as network_from_dict
from ._sciml_network import network_to_dict as network_to_dict
from ._sciml_network import save_network as save_network
from ._sciml_problem import SciMLEvaluation as SciMLEvaluation
from ._sciml_problem import SciMLProblem as SciMLProblem
from ._sciml_problem import load_sciml_problem as load_sciml_problem
from ._screen_evaluate import Evaluation as Evaluation
from ._screen_evaluate import evaluate as evaluate
from ._screen_evaluate import kfold as kfold
from ._screen_methods import network_method as network_method
from ._screen_methods import other_screens as other_screens
from ._screen_methods import start_at_mean as start_at_mean
from ._screen_methods import transfer_network as transfer_network
from ._screen_metrics import discrimination_score as discrimination_score
from ._screen_metrics import linear_baseline as linear_baseline
from ._screen_metrics import paired_bootstrap as paired_bootstrap
from ._screen_metrics import pearson_rows as pearson_rows
from ._screen_metrics import rank_metric as rank_metric
from ._screen_metrics import top_k_overlap as top_k_overlap
from ._screens import load_l1000 as load_l1000
from ._screens import load_torre as load_torre
from ._screens import pool_screens as pool_screens
from ._screens import targets_of as targets_of
from ._steady import GMRES_FROM_NODES as GMRES_FROM_NODES
from ._steady import LINEAR_SOLVERS as LINEAR_SOLVERS
from ._steady import integrate_to_steady_state as integrate_to_steady_state
from ._steady import linear_solver_for as linear_solver_for
from ._steady import steady_state as steady_state
from ._train import TrainResult as TrainResult
from ._train import fit_error as fit_error
from ._train import mse as mse
from ._train import train as train
