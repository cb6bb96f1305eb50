"""One `train_and_evaluate(config, workdir)` per method; configs name theirs in `config.trainer`."""
