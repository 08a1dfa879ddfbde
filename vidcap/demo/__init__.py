"""``vidcap demo``, all in one place: the synthetic clips it generates (:mod:`~vidcap.demo.synthetic`, also the
tests' video generator), its config (``demo.yaml``, the same file as ``configs/demo.yaml``) and the run
(:mod:`~vidcap.demo.run`).
"""
