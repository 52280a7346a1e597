"""Everything around the model: settings, Label Studio's ML backend protocol over HTTP,
the training queue and worker, the Label Studio API client and the model store."""
