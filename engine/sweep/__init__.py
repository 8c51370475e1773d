"""Parameter sweeps and walk-forward over ``engine.run.backtest`` (``python -m engine sweep``).

``grid``/``expr``: the grid, ``--where`` and ``--random``; ``plan``: the config, tasks and
walk-forward segments; ``data``: the data, read once; ``worker``: one task;
``local``/``ray_backend``: where tasks run; ``store``: the journal's sweep tables;
``walkforward``, ``render``, ``heatmap``: the result; ``command``: the command.
"""
