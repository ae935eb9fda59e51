"""Downstream readout of the virtual reservoir (paper Fig. 4c–e, Methods "Simulation of neural networks"),
measured against baselines that carry no device.

Modules: :mod:`.features` (what the readouts see of spike-train runs, the split, feature diagnostics),
:mod:`.baselines` (device-free inputs, linear ceiling, device-vs-baseline verdict), :mod:`.icc` (Icc → G
programming statistics), :mod:`.readouts` (float64 and Icc-programmed trainings), :mod:`.train`
(:func:`train_readout` over seeds), :mod:`.report` (HDF5 results, text). Figures: :mod:`labrc.reservoir_plots`.

Readout (DESIGN §8): the 30 node conductances, min–max normalised with the training set's range (one range
for all nodes, so relative node levels survive), + a bias → 4 sigmoid outputs, 5 epochs, batch size 1,
prediction = the most active output; float64 weights (delta rule) and Icc-programmed differential pairs
(:mod:`.readouts`). Baselines (:mod:`.baselines`): the same float64 readout on the input at the read instants
(``memoryless``), the 35 ms spike occupancy (``stimulus``) and the whole waveform (``stimulus_waveform``).

Split: class- and device-stratified — within every (run, device, class) group a seeded 10 % is the test set.
Three seeds by default (each seed: split, initial weights, presentation order and Icc programming noise);
accuracies per seed and as mean ± s.d. A comparison says the device *adds* (or *loses*) against a baseline
when the mean difference of test accuracy exceeds twice its standard error over the seeds.

Every result carries ``diagnostics`` (reads in compliance, relaxed reads, node-G quantiles, the inputs' use
of [0, 1], and a *linear ceiling* — a fully trained logistic regression on the device features and on the
baselines — so that an accuracy can be read as "input overlap" or "readout training") and ``decisions``
(:func:`.train.decisions`).

Missing from the Methods (issue 12; each is a choice here, recorded in ``decisions``): the node
normalisation (what x_i is), the learning rates η of both trainings and the adaptive-rate rule (ref. 64 only
named), the float net's initial weights, the Icc → G mean and σ lines (Supplementary Fig. 28, numbers not in
the text), whether the split is stratified, where a pattern starts relative to the read clock
(:mod:`protocols.patterns`), whether an ISI is onset-to-onset or gap, and the spike width (20 ms in the
Fig. 4 caption, 25 ms in the Methods).

Measured (issue 12, paper-size campaign 25 × 199 × 4, campaign seed = sim seed 0/1/2, readout seeds 0–2):
with the default ``isi_mode="gap"`` the float64 / Icc readouts score 97.2 / 94.3, 97.5 / 93.1, 96.6 / 93.5 %
(paper 91.8 / 85.1); the literal onset-to-onset ISI (preset ``paper-onset``) 92.4 / 85.8, 92.2 / 85.0,
91.7 / 87.1 %. In both readings the device features tie the memoryless baseline and lose to the 35 ms
stimulus, and their linear ceiling equals the memoryless one (gap 98.2–98.8 %, onset 95.3–95.7 %): no read is
clamped, 64 % of reads sit on a relaxed bridge, and no spike of the campaign reaches the 1 µA compliance, so
the model draws no cycle-to-cycle factor in it (its c2c draws happen at switching events only) — the spike
response repeats within 0.6 % (read noise) on a device, against 28 % device to device. The missing
η / normalisation alone move the float64 readout over 97.0–98.2 % (gap) and 89.6–94.8 % (onset).

Results go to HDF5 (:func:`write_results`: layout ``labrc.reservoir/1``, the input runs' ids and paths as
attributes) and figures to PNG (:mod:`labrc.reservoir_plots`).
"""

from .baselines import BASELINES, compare, linear_ceiling, stimulus_features
from .features import (
           CLASSES,
           Campaign,
           feature_diagnostics,
           load_campaign,
           load_features,
           normalise,
           stratified_split,
)
from .icc import (
           DEFAULT_ICC_MODEL,
           G_INIT_MEAN_S,
           G_INIT_SD_S,
           G_MAX_S,
           G_MIN_S,
           IccModel,
           icc_model_from_run,
)
from .readouts import (
           NV_ENDURANCE_CYCLES,
           Readout,
           SeedResult,
           confusion,
           make_readout,
           train_float,
           train_icc,
)
from .report import (
           PAPER_TEST_ACC,
           RESULTS_LAYOUT,
           format_result,
           read_results,
           write_results,
)
from .train import Result, decisions, train_readout

__all__ = ["BASELINES", "CLASSES", "DEFAULT_ICC_MODEL", "G_INIT_MEAN_S", "G_INIT_SD_S", "G_MAX_S", "G_MIN_S",
           "NV_ENDURANCE_CYCLES", "PAPER_TEST_ACC", "RESULTS_LAYOUT", "Campaign", "IccModel", "Readout", "Result",
           "SeedResult", "compare", "confusion", "decisions", "feature_diagnostics", "format_result",
           "icc_model_from_run", "linear_ceiling", "load_campaign", "load_features", "make_readout", "normalise",
           "read_results", "stimulus_features", "stratified_split", "train_float", "train_icc", "train_readout",
           "write_results"]
