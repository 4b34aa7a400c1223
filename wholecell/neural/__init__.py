"""wc.neural: perturbation screens, the CellBox network ODE with a neural correction term,
steady-state training with implicit gradients, and the field's metrics and baselines.

    import wholecell as wc
    data = wc.neural.load_cellbox("../shared/perturbation/cellbox_korkut2015_rppa")
    model = wc.neural.cellbox(99, 82, 87, key=jax.random.PRNGKey(0))
    fit = wc.neural.train(model, data.u, data.y, data.readouts, train_idx, val_idx)
    x = wc.neural.steady_state(fit.model, data.u)   # all conditions at once
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
from ._steady import integrate_to_steady_state as integrate_to_steady_state
from ._steady import steady_state as steady_state
from ._train import TrainResult as TrainResult
from ._train import mse as mse
from ._train import train as train
