"""The training machinery: what turns the textbook pieces into the lectures' runs.

Nothing here is needed to read how an op or a layer works (that is ``functional``,
``nn``, ``optim``, ``models``, ``data``); this is what trains them and measures it.

loop          the lectures' training loop, :func:`~scratchnet.training.loop.fit`, and one epoch
engine        what an engine is (model, loss, optimizer, one step), shared by both engines
numpy_engine  scratchnet's engine; ``torch_engine`` the same shape over the torch twins
lockstep      two engines taking turns epoch by epoch, and how far their runs drift apart
config        the hyper-parameters of a run, declared once (Recipe, TrainConfig)
experiments   the lecture experiments with the figures the slides report
diagnose      per-layer statistics of a short run (``scratchnet diagnose``)
environment   where a run ran: versions, threads, device, the load of other processes;
              glibc's allocator told to keep freed memory (keep_freed_memory)
plot          loss and accuracy curves of one or two runs
run_options   the torch engine's options of a run (loader, autocast, compile, TF32)
torch_data    the lectures' own torchvision pipeline for the torch engine

Only the modules whose names start with ``torch_`` import torch.
"""
