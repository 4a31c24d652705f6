"""What reads the results: the warehouse sink, the alerts API, dispatch and dashboards."""
