"""Training: the loop (:mod:`~vidcap.training.trainer`), what a run reads (:mod:`~vidcap.training.rundata`),
the objectives (cross-entropy in :mod:`~vidcap.training.objectives`, self-critical in
:mod:`~vidcap.training.scst`) and the optimizers, schedules and clippers (:mod:`~vidcap.training.optim`).

Training takes a loaded config (:mod:`vidcap.config`) as plain values and does not import the config
package: the schema describes training, not the other way round.
"""
