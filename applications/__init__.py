"""The keras-rin model zoo: one folder per named preset (`config.json`,
`metadata.json`, a model card `README.md` and, where we have them,
`model.weights.h5`). Installed as `keras_rin.applications`."""
