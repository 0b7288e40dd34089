# MMDet YOLOv3 on a frozen pre-trained encoder with the paper's detection settings: three
# scales from C3-C5, COCO anchors scaled by input size / 416, loss weights xy 2.5 / wh 2.5 /
# confidence 1 / class 1, confidence threshold 0.5, NMS at IoU 0.5, AdamW (lr 5e-4, wd 1e-6).
# The best epoch is chosen on validation mAP. benchmark.evaluation.openmmlab.run fills in the encoder
# folder and its channels, the store, split manifest, fraction, input size, batch size,
# epochs and seed.
_base_ = ["./_base_/runtime.py"]
default_scope = "mmdet"
input_size = 224
model = dict(
    type="YOLOV3",
    data_preprocessor=dict(type="DetDataPreprocessor", mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=False,
                           pad_size_divisor=32),
    backbone=dict(type="MedVLPEncoder", checkpoint=None, out_indices=(1, 2, 3), frozen_stages=4, norm_eval=True),
    neck=dict(type="YOLOV3Neck", num_scales=3, in_channels=[2048, 1024, 512], out_channels=[512, 256, 128]),
    bbox_head=dict(
        type="YOLOV3Head",
        num_classes=1,
        in_channels=[512, 256, 128],
        out_channels=[1024, 512, 256],
        anchor_generator=dict(type="YOLOAnchorGenerator",
                              base_sizes=[[(116, 90), (156, 198), (373, 326)], [(30, 61), (62, 45), (59, 119)],
                                          [(10, 13), (16, 30), (33, 23)]],
                              strides=[32, 16, 8]),
        bbox_coder=dict(type="YOLOBBoxCoder"),
        featmap_strides=[32, 16, 8],
        loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0, reduction="sum"),
        loss_conf=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0, reduction="sum"),
        loss_xy=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=2.5, reduction="sum"),
        loss_wh=dict(type="MSELoss", loss_weight=2.5, reduction="sum"),
    ),
    train_cfg=dict(assigner=dict(type="GridAssigner", pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0)),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05, conf_thr=0.5, nms=dict(type="nms", iou_threshold=0.5),
                  max_per_img=100),
)
train_pipeline = [
    dict(type="LoadStoreImage"),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="Resize", scale=(input_size, input_size), keep_ratio=False),
    dict(type="PackDetInputs"),
]
test_pipeline = [  # boxes are loaded after Resize: predictions are scored in store pixels
    dict(type="LoadStoreImage"),
    dict(type="Resize", scale=(input_size, input_size), keep_ratio=False),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]
dataset = dict(type="StoreDetDataset", store=None, splits=None)
train_dataloader = dict(drop_last=True, batch_size=16, num_workers=0, persistent_workers=False,
                        sampler=dict(type="DefaultSampler", shuffle=True),
                        dataset=dict(dataset, split="train", pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False, sampler=dict(type="DefaultSampler", shuffle=False),
                      dataset=dict(dataset, split="valid", pipeline=test_pipeline, test_mode=True))
test_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False, sampler=dict(type="DefaultSampler", shuffle=False),
                       dataset=dict(dataset, split="test", pipeline=test_pipeline, test_mode=True))
val_evaluator = dict(type="StoreDetectionMetric")
test_evaluator = dict(type="StoreDetectionMetric")
optim_wrapper = dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=5e-4, weight_decay=1e-6))
default_hooks = dict(checkpoint=dict(save_best="map"))
