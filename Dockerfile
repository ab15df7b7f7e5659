# Astro Runtime for Airflow 3.3. The image's ONBUILD steps install packages.txt and requirements.txt
# and copy the project into AIRFLOW_HOME (/usr/local/airflow), which the runtime puts on PYTHONPATH:
# `include.roboflow_batch` therefore imports in every component, the triggerer included.
FROM astrocrpublic.azurecr.io/runtime:3.3-2

# The project's operators and sensors take their `deferrable` default from here, as providers do:
# waits go to the triggerer unless a task says otherwise.
ENV AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE=True

# Airflow finds connection types only through an installed distribution's provider entry point:
# install the project itself (its dependencies came from requirements.txt above), so the "roboflow"
# connection type, its form and its Test button exist. tests/integration/deploy checks this line.
RUN pip install --no-cache-dir --no-deps /usr/local/airflow
