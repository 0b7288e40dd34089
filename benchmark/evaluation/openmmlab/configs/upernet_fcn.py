# MMSeg UperNet with an FCN auxiliary head on a frozen pre-trained encoder (the BenchX
# segmentation head), background / foreground. The best epoch is chosen on validation Dice.
# benchmark.evaluation.openmmlab.run fills in the encoder folder and its channels, the store, split
# manifest, fraction, input size, batch size, epochs and seed.
_base_ = ["./_base_/runtime.py"]
default_scope = "mmseg"
input_size = 224
norm_cfg = dict(type="BN", requires_grad=True)
model = dict(
    type="EncoderDecoder",
    data_preprocessor=dict(type="SegDataPreProcessor", mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=False,
                           pad_val=0, seg_pad_val=255, size=(input_size, input_size)),
    backbone=dict(type="MedVLPEncoder", checkpoint=None, out_indices=(0, 1, 2, 3), frozen_stages=4, norm_eval=True),
    decode_head=dict(type="UPerHead", in_channels=[256, 512, 1024, 2048], in_index=[0, 1, 2, 3], pool_scales=(1, 2, 3, 6),
                     channels=512, dropout_ratio=0.1, num_classes=2, norm_cfg=norm_cfg, align_corners=False,
                     loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(type="FCNHead", in_channels=1024, in_index=2, channels=256, num_convs=1, concat_input=False,
                        dropout_ratio=0.1, num_classes=2, norm_cfg=norm_cfg, align_corners=False,
                        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"),
)
train_pipeline = [
    dict(type="LoadStoreImage"),
    dict(type="LoadStoreMask"),
    dict(type="Resize", scale=(input_size, input_size), keep_ratio=False),
    dict(type="PackSegInputs"),
]
test_pipeline = [  # the mask is loaded after Resize: predictions are scored at the store's resolution
    dict(type="LoadStoreImage"),
    dict(type="Resize", scale=(input_size, input_size), keep_ratio=False),
    dict(type="LoadStoreMask"),
    dict(type="PackSegInputs"),
]
dataset = dict(type="StoreSegDataset", store=None, splits=None)
train_dataloader = dict(drop_last=True, batch_size=8, num_workers=0, persistent_workers=False, sampler=dict(type="DefaultSampler", shuffle=True),
                        dataset=dict(dataset, split="train", pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False, sampler=dict(type="DefaultSampler", shuffle=False),
                      dataset=dict(dataset, split="valid", pipeline=test_pipeline))
test_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False, sampler=dict(type="DefaultSampler", shuffle=False),
                       dataset=dict(dataset, split="test", pipeline=test_pipeline))
val_evaluator = dict(type="StoreDiceMetric")
test_evaluator = dict(type="StoreDiceMetric")
optim_wrapper = dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01))
default_hooks = dict(checkpoint=dict(save_best="dice"))
