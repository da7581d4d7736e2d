"""The experiment's hyperparameters as TensorBoard's HParams dashboard reads them: declared once,
with their domains (an explicit experiment, as tensorboard.plugins.hparams' hparams_config), and
each run's values, with the epochs and steps it actually ran.

TensorBoard 2.21's HParams table ticks five hparams by default: those marked `differs` first,
then by name. The five that tell this project's runs apart (a sweep's grid and its seeds) are
marked so; the others are one click away in the same table."""
from __future__ import annotations

import sys
import time

from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
from tensorboard.plugins.hparams import metadata as hp_metadata
from tensorboard.plugins.hparams import summary_v2 as hp

from nn_crosscheck_common import tags as T

from .config import MAX_SEED, OPTIMIZERS, SCHEDULES, Config
from .spec import ACTIVATIONS, INITS

BIG = float(sys.float_info.max)  # "any finite value": a real flag's only upper bound
BIG_INT = 2 ** 31 - 1

HPARAMS = (
    hp.HParam("opt", hp.Discrete(list(OPTIMIZERS)), description="optimizer"),
    hp.HParam("act", hp.Discrete(list(ACTIVATIONS)), description="activation after each hidden layer"),
    hp.HParam("init", hp.Discrete(list(INITS)), description="weight initialisation"),
    hp.HParam("lr", hp.RealInterval(0.0, BIG), description="peak learning rate"),
    hp.HParam("seed", hp.IntInterval(0, MAX_SEED), description="initialisation, shuffling and dropout"),
    hp.HParam("momentum", hp.RealInterval(0.0, BIG), description="SGD momentum (0 for Adam)"),
    hp.HParam("schedule", hp.Discrete(list(SCHEDULES)), description="learning rate over the planned run"),
    hp.HParam("batch_size", hp.IntInterval(1, BIG_INT), description="global batch size"),
    hp.HParam("dropout", hp.RealInterval(0.0, 1.0), description="drop probability in training"),
    hp.HParam("amp", hp.Discrete([False, True]), description="bf16 autocast for the forward pass"),
    hp.HParam("steps", hp.IntInterval(0, BIG_INT), description="optimizer steps actually run"),
    hp.HParam("epochs", hp.RealInterval(0.0, BIG), description="epochs actually run (steps / steps per epoch)"),
)
SHOWN = ("opt", "act", "init", "lr", "seed")  # ticked by default in the HParams table (see above)
METRICS = (T.TEST_ACCURACY_FULL, T.TEST_LOSS_FULL)


def _summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    s = Summary()
    s.value.add(tag=tag, metadata=hp_metadata.create_summary_metadata(data), tensor=hp_metadata.NULL_TENSOR)
    return s


def experiment_summary() -> Summary:
    """The declared experiment: every hparam with its domain, the metrics; the same in every run."""
    infos = []
    for h in HPARAMS:
        info = api_pb2.HParamInfo(name=h.name, description=h.description, differs=h.name in SHOWN)
        h.domain.update_hparam_info(info)
        infos.append(info)
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag), description=T.description(tag))
               for tag in METRICS]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics, time_created_secs=time.time())
    return _summary(hp_metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment))


def values(cfg: Config, steps_run: int, steps_per_epoch: int) -> dict:
    """This run's value of each declared hparam; epochs and steps as run, not as planned."""
    out = {h.name: getattr(cfg, h.name) for h in HPARAMS if h.name not in ("steps", "epochs")}
    out["steps"] = steps_run
    out["epochs"] = round(steps_run / steps_per_epoch, 3)
    return out


def session_summaries(run_name: str, hparam_values: dict, start_time: float) -> list[Summary]:
    """The run's session: its hparam values (start) and a successful end."""
    start = hp.hparams_pb(hparam_values, trial_id=run_name, start_time_secs=start_time)
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS, end_time_secs=time.time())
    return [start, _summary(hp_metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end))]
