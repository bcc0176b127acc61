"""The yardstick: the few lines a sign-up proxy could be, with no protections at all.

Served like the service (``gunicorn bench.naive_proxy:app``) but with gunicorn's defaults. `make
bench` also serves it with the service's worker model (gevent, 2 workers, a botocore pool as large
as a worker's connections: ``NAIVE_MAX_CONNECTIONS``) to show what the machine gives a proxy with
nothing in it.
"""

import base64
import hashlib
import hmac
import os

import boto3
from botocore.config import Config
from flask import Flask, request

app = Flask(__name__)
cognito = boto3.client(
    "cognito-idp",
    region_name=os.environ["AWS_REGION"],
    config=Config(max_pool_connections=int(os.environ.get("NAIVE_MAX_CONNECTIONS", 10))),
)
CLIENT_ID = os.environ["COGNITO_CLIENT_ID"]
SECRET = os.environ["COGNITO_CLIENT_SECRET"].encode()


@app.post("/register")
def register():
    body = request.get_json()
    digest = hmac.new(SECRET, (body["email"] + CLIENT_ID).encode(), hashlib.sha256).digest()
    answer = cognito.sign_up(
        ClientId=CLIENT_ID,
        Username=body["email"],
        Password=body["password"],
        SecretHash=base64.b64encode(digest).decode(),
        UserAttributes=[{"Name": "email", "Value": body["email"]}],
    )
    return {"user_confirmed": answer["UserConfirmed"]}, 201
