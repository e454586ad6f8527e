"""The elastic weight-sharing transformer, its samplers, training and evaluation."""
