"""`python -m keras_rin ...`: the `keras-rin` command. The package's
`__init__` has already chosen the backend (see `keras_rin._cli_startup`)."""

import sys

from keras_rin.cli import main

sys.exit(main())
