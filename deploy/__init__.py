"""Running the site as several replicas behind a cache: deploy/replicas.py, deploy/nginx.conf.template."""
