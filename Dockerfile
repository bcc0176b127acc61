# syntax=docker/dockerfile:1
# Build stage: compile wheels for the pinned requirements into a virtualenv.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt
# The translations, compiled (the .mo files are build output, not in the repository).
COPY app/translations /opt/translations
RUN /opt/venv/bin/pybabel compile --directory /opt/translations

# Runtime stage: the virtualenv and the code, run by an unprivileged user.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    COGNITO_EMBEDDED=never \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000
RUN useradd --system --uid 10001 --home-dir /srv signup
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv
COPY --chown=root:root app ./app
COPY --from=build --chown=root:root /opt/translations ./app/translations
COPY --chown=root:root migrations ./migrations
COPY --chown=root:root wsgi.py ./
# The default DATABASE_URL is an SQLite file in /srv/instance; production sets a PostgreSQL URL.
# Migrations run with the same image: docker run --rm -e DATABASE_URL=... IMAGE flask --app wsgi db upgrade
RUN mkdir /srv/instance && chown signup /srv/instance
USER signup
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"]
CMD ["gunicorn", "--config", "python:app.serving.gunicorn_conf"]
