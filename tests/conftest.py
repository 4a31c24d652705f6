pytest_plugins = ["tests.infra.plugin", "tests.browser"]
