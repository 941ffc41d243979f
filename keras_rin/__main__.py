import sys

from keras_rin.cli import main

sys.exit(main())
