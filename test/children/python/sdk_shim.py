"""The few names of the official Python SDK that the reference article's methods use.

Stand-ins written for the tests (the SDK itself cannot be installed here): OAuthToken and
UserSignature with the getters and setters the article calls, SDKException with the SDK's
signature, and Constants with the names the article reads.
"""


class UserSignature:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class OAuthToken:
    FIELDS = ('id', 'user_signature', 'client_id', 'client_secret', 'refresh_token',
              'access_token', 'grant_token', 'expires_in', 'redirect_url', 'api_domain')

    def __init__(self, **values):
        for field in self.FIELDS:
            setattr(self, field, values.get(field))

    def get_id(self): return self.id
    def set_id(self, value): self.id = value
    def get_user_signature(self): return self.user_signature
    def set_user_signature(self, value): self.user_signature = value
    def get_client_id(self): return self.client_id
    def set_client_id(self, value): self.client_id = value
    def get_client_secret(self): return self.client_secret
    def set_client_secret(self, value): self.client_secret = value
    def get_refresh_token(self): return self.refresh_token
    def set_refresh_token(self, value): self.refresh_token = value
    def get_access_token(self): return self.access_token
    def set_access_token(self, value): self.access_token = value
    def get_grant_token(self): return self.grant_token
    def set_grant_token(self, value): self.grant_token = value
    def get_expires_in(self): return self.expires_in
    def set_expires_in(self, value): self.expires_in = value
    def get_redirect_url(self): return self.redirect_url
    def set_redirect_url(self, value): self.redirect_url = value
    def get_api_domain(self): return self.api_domain
    def set_api_domain(self, value): self.api_domain = value


class SDKException(Exception):
    def __init__(self, code=None, message=None, details=None, cause=None):
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.details = details
        self.cause = cause

    def __str__(self):
        text = f'{self.code}: {self.message}'
        if self.cause is not None:
            text += f' (cause: {type(self.cause).__name__}: {self.cause})'
        return text


class Constants:
    TOKEN_STORE = 'TOKEN_STORE'
    SAVE_TOKEN_DB_ERROR = 'Exception in saveToken - DBStore'
    GET_TOKEN_DB_ERROR1 = 'Exception in getToken - DBStore : Given user token details'
    DELETE_TOKEN_DB_ERROR = 'Exception in delete_token - DBStore'
    DELETE_TOKENS_DB_ERROR = 'Exception in delete_tokens - DBStore'
    GET_TOKENS_DB_ERROR = 'Exception in get_tokens - DBStore'
    GET_TOKEN_BY_ID_DB_ERROR = 'Exception in get_token_by_id - DBStore'
    USER_NAME = 'user_name'
    CLIENT_ID = 'client_id'
    CLIENT_SECRET = 'client_secret'
    REFRESH_TOKEN = 'refresh_token'
    ACCESS_TOKEN = 'access_token'
    GRANT_TOKEN = 'grant_token'
    EXPIRY_TIME = 'expiry_time'
    REDIRECT_URL = 'redirect_url'
    API_DOMAIN = 'api_domain'


def describe(error):
    """One line for an error and its causes, as the test reports it."""
    text = f'{type(error).__name__}: {error}'
    cause = getattr(error, 'cause', None) or error.__cause__
    if cause is not None and cause is not error and not isinstance(error, SDKException):
        text += f' <- {describe(cause)}'
    return text
