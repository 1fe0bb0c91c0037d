"""SER models: MFCC features, MACNN and its attention family, AAM, the trainer, checkpoints."""
