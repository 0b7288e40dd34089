# Shared runtime of the OpenMMLab heads: CPU or one GPU, no distributed launcher, epoch loops
# with validation after every epoch and only the best checkpoint kept (benchmark.evaluation.openmmlab.run
# tests with it). Heads and data live in the config that inherits this one.
custom_imports = dict(imports=["benchmark.evaluation.openmmlab.components"], allow_failed_imports=False)
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
               dist_cfg=dict(backend="nccl"))
log_level = "WARNING"
log_processor = dict(by_epoch=True)
load_from = None
resume = False
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=50, val_interval=1)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=50),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", interval=-1, save_last=False, save_optimizer=False,
                    save_param_scheduler=False, max_keep_ckpts=1, rule="greater"),
    sampler_seed=dict(type="DistSamplerSeedHook"),
)
