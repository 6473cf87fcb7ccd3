"""paycore's adapters (imported as ``paycore_adapters``)."""

import logging

# As in paycore itself: a library logs, the application decides where records go (logging
# HOWTO, "Configuring Logging for a Library"). Without this, Python's last-resort handler
# prints the adapters' warnings (a refused webhook delivery, say) to stderr.
logging.getLogger(__name__).addHandler(logging.NullHandler())
