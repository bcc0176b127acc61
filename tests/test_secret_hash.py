from app.cognito import secret_hash

# The published vector, as docs/cognito.md gives it.
USERNAME = "username"
CLIENT_ID = "EPswPGbpdBLZnh9XW134hK7qYe"
CLIENT_SECRET = "ps50nb7hd1umdnmlt1xa9nwiscqvdvzy5ijw63vcacd09yihc2b"


def test_secret_hash_matches_the_published_vector():
    assert secret_hash(USERNAME, CLIENT_ID, CLIENT_SECRET) == (
        "oUkNFqfm7UjLds8vXFWarT1l3gqORGoztf+EyFmoX2Q="
    )


def test_secret_hash_is_over_username_then_client_id():
    swapped = "wCjpQrvgfKZLOmJ4OobAvFw8raF00sEd209G+ROQrKs="
    # The negative vector is the HMAC of client id + username: the order a known bug uses.
    assert secret_hash(CLIENT_ID, USERNAME, CLIENT_SECRET) == swapped
    assert secret_hash(USERNAME, CLIENT_ID, CLIENT_SECRET) != swapped


def test_secret_hash_depends_on_the_exact_username():
    assert secret_hash("Username", CLIENT_ID, CLIENT_SECRET) != secret_hash(
        USERNAME, CLIENT_ID, CLIENT_SECRET
    )
