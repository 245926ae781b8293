"""What the official Python SDK's FileStore does to a token file, for the tests.

Written for the tests from the SDK's behaviour: a save reads the whole CSV, updates the row of
the token's user or numbers a new row with int() of every stored id plus one, then rewrites the
file in place (open for writing, which truncates it). It takes no lock.
"""
import csv
import os

from sdk_shim import OAuthToken, UserSignature

HEADERS = ['id', 'user_name', 'client_id', 'client_secret', 'refresh_token', 'access_token',
           'grant_token', 'expiry_time', 'redirect_url', 'api_domain']


class PythonFileStore:
    def __init__(self, path):
        self.path = path
        if not os.path.exists(path) or os.stat(path).st_size == 0:
            self._write([HEADERS])

    def _read(self):
        with open(self.path, newline='') as f:
            return [row for row in csv.reader(f) if row]

    def _write(self, rows):
        with open(self.path, mode='w', newline='') as f:
            csv.writer(f, delimiter=',', quotechar='"', quoting=csv.QUOTE_MINIMAL).writerows(rows)

    @staticmethod
    def generate_id(rows):
        largest = 0
        for row in rows[1:]:
            if len(row) > 1 and len(row[0]) > 0 and largest < int(row[0]):
                largest = int(row[0])
        return str(largest + 1)

    @staticmethod
    def _row(token):
        return [token.get_id(), token.get_user_signature().get_name(), token.get_client_id(),
                token.get_client_secret(), token.get_refresh_token(), token.get_access_token(),
                token.get_grant_token(), token.get_expires_in(), token.get_redirect_url(),
                token.get_api_domain()]

    @staticmethod
    def _merge(token, row):
        for index, field in enumerate(OAuthToken.FIELDS):
            if getattr(token, field) is None and len(row) > index and row[index]:
                value = UserSignature(row[index]) if field == 'user_signature' else row[index]
                setattr(token, field, value)

    def save_token(self, token):
        """Saves a token that has a user name: updates that user's row, or adds a row."""
        rows = self._read()
        name = token.get_user_signature().get_name()
        for index in range(1, len(rows)):
            if len(rows[index]) > 1 and rows[index][1] == name:
                self._merge(token, rows[index])
                rows[index] = self._row(token)
                break
        else:
            token.set_id(self.generate_id(rows))
            rows.append(self._row(token))
        self._write(rows)

    def find_token(self, name):
        for row in self._read()[1:]:
            if len(row) > 1 and row[1] == name:
                token = OAuthToken(user_signature=UserSignature(name))
                self._merge(token, row)
                return token
        return None
