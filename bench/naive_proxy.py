"""The yardstick: the few lines a sign-up proxy could be, with no protections at all.

Served like the service (``gunicorn bench.naive_proxy:app``) but with gunicorn's defaults.
"""

import base64
import hashlib
import hmac
import os

import boto3
from flask import Flask, request

app = Flask(__name__)
cognito = boto3.client("cognito-idp", region_name=os.environ["AWS_REGION"])
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
