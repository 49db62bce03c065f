"""Motion streams: a small network over a clip's pixels beside a frame backbone's image encoder
(``model.backbone.motion``).

A pretrained image encoder sees what each frame shows, not how the frames move: pooled per
frame, its features are nearly the same for a pan to the left and a pan to the right. A motion
stream maps the clip ``(B, 3, T, H, W)`` to ``(B, out_dim)`` from what changes between frames,
and the frame backbone concatenates it to the temporal module's summary. Each module registers
itself in :data:`vrt.registry.MOTION_STREAMS`.
"""
