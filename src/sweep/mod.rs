//! Sweeping a grid of vllm serve configurations.
