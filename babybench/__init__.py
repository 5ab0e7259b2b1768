"""babybench: a harness for low-resource language-model research.

The pipeline is ``prepare -> tokenizer -> train -> evaluate -> leaderboard``;
each step is a subcommand of the ``babybench`` CLI and a Python API.
"""

__version__ = "0.1.0"
