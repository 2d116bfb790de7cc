# nn/ — modules, losses, optimizers, LR schedulers, safetensors checkpoints.
