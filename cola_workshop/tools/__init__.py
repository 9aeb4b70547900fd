"""The ``cola-workshop`` command and what only it uses: running notebooks headless, the doctor, the learner
edition, the site and the demo. Tools import the core package (``cola_workshop``); the core never imports tools."""
