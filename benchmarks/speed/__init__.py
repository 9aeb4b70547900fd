"""The training benchmark behind ``benchmarks/train_speed.py``, one module per concern.

- ``configs``: the configurations compared and the goals of the workshop's recipe
- ``statistics``: padding and timing arithmetic (pure)
- ``flops``: model FLOPs utilization arithmetic and parameter counts
- ``machine``: CPU name, the matmul peak measured now, CPU and memory use
- ``sources``: where the model, data and tokenizer come from
- ``training``: the workshop's Trainer, with the instruments a child needs
- ``child``: the process that trains one configuration (timed steps, or whole epochs)
- ``parent``: runs children under a memory cap
- ``report``: prints the timed benchmark
- ``workshop_logs``: reads per-notebook and per-epoch times of a workshop run (pure)
- ``end_to_end`` and ``e2e_report``: the end-to-end mode and its printout
- ``cli``: the command line

Importing any of them runs nothing and imports neither torch nor transformers.
"""
