"""Training two models in lockstep: lockstep (both sides, same batches), trajectory (do the
runs agree?), alone (one side on its own), tb_logger and diagnostics (TensorBoard, health)."""
