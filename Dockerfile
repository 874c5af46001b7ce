# Image for the customer success platform: web (gunicorn), Celery worker and Celery beat.
# docker-compose.yml runs all three from this one image with different commands.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    # Import the apps from /app (the copied source tree), not from the copy `pip install .`
    # puts in site-packages, so BASE_DIR is /app for every process: templates/, staticfiles/
    # and var/ are found there. (celery only puts the working directory on sys.path briefly.)
    PYTHONPATH=/app

WORKDIR /app

RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

COPY . .

# Runtime dependencies only (no [dev] extras). Remove setuptools' in-tree build leftovers.
RUN pip install . \
    && rm -rf build ./*.egg-info

# Settings refuse to load without SECRET_KEY/ALLOWED_HOSTS when DEBUG is off. These values
# exist only for this RUN line (not ENV): they are not baked into the image, and collectstatic
# needs no database. DEBUG off selects the compressed, hashed (manifest) static storage.
RUN SECRET_KEY=collectstatic-build-only-key-never-used-at-runtime-0123456789 \
    ALLOWED_HOSTS=localhost \
    DEBUG=false \
    EMBEDDED_SERVICES=true \
    python manage.py collectstatic --noinput

# Settings create var/ (CS_VAR_DIR) on import; the app user must be able to write there.
# The code and collected static files stay root-owned and read-only for the app user.
RUN mkdir -p /app/var && chown app:app /app/var

USER app

EXPOSE 8000

CMD ["gunicorn", "cs_platform.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
