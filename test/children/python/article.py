"""The reference article's CustomStoreSQLite, built at run time from the article's own text.

The article (Kaizen #192) prints the methods of its sample store but not the helpers they call;
those few helpers are written here the way the official Python DBStore writes them. Nothing of
the article is copied into the project: its methods are read from the article file each run.
"""
import sqlite3
from sqlite3 import Error

from sdk_shim import Constants, OAuthToken, SDKException, UserSignature

METHODS = ('__init__', 'save_token', 'find_token', 'delete_token', 'get_tokens',
           'find_token_by_id')


def _indent(line):
    return len(line) - len(line.lstrip(' '))


def _method_lines(lines, name):
    """The lines of one method: its def, then every indented or blank line until the prose."""
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(f'def {name}('))
    body = []
    for line in lines[start + 1:]:
        if line.strip() and not line.startswith(' '):
            break
        body.append(line.rstrip())
    while body and not body[-1]:
        body.pop()
    return lines[start].strip(), body


def _compiles(source):
    try:
        compile(source, '<article>', 'exec')
        return True
    except SyntaxError:
        return False


def _method_source(header, body):
    """The method as a class member. The web page lost the indentation of a few lines (they
    start in column 1); each such line gets the deepest indentation under which the method
    compiles."""
    base = min(_indent(line) for line in body if line and _indent(line) >= 4)
    fixed = []
    for line in body:
        if line and _indent(line) < base:
            previous = next(l for l in reversed(fixed) if l.strip())
            deepest = _indent(previous) // 4 * 4 + (4 if previous.rstrip().endswith(':') else 0)
            for depth in range(deepest, base - 1, -4):
                candidate = ' ' * depth + line.strip()
                rest = body[len(fixed) + 1:]
                trial = '\n'.join([header] + fixed + [candidate] + rest) + '\n'
                if _compiles('class Trial:\n' + _dedent(trial, base)):
                    line = candidate
                    break
        fixed.append(line)
    return _dedent('\n'.join([header] + fixed), base)


def _dedent(source, base):
    lines = source.split('\n')
    out = ['    ' + lines[0].strip()]
    for line in lines[1:]:
        out.append(' ' * (8 + _indent(line) - base) + line.strip() if line.strip() else '')
    return '\n'.join(out) + '\n'


def load_methods(article_path):
    """The article's methods, as a class to inherit from."""
    with open(article_path, encoding='utf-8') as f:
        # The page indents some methods with no-break spaces.
        lines = f.read().replace('\u00a0', ' ').splitlines()
    source = 'class ArticleMethods:\n' + ''.join(
        _method_source(*_method_lines(lines, name)) for name in METHODS)
    scope = {'sqlite3': sqlite3, 'Error': Error, 'OAuthToken': OAuthToken,
             'SDKException': SDKException, 'Constants': Constants}
    exec(compile(source, '<the article\'s methods>', 'exec'), scope)
    return scope['ArticleMethods']


def article_store(article_path):
    """The sample store: the article's methods, with the helpers it calls but does not print."""
    methods = load_methods(article_path)

    class CustomStoreSQLite(methods):
        def check_table_exists(self):
            connection = sqlite3.connect(self.db_name)
            try:
                found = connection.execute(
                    "select name from sqlite_master where type='table' and name='oauthtoken'")
                return found.fetchone() is not None
            finally:
                connection.close()

        def generate_id(self):
            # As the official Python DBStore numbers rows: SQL's max(id), a text maximum on
            # the varchar id, read on a connection of its own, then int() + 1.
            connection = sqlite3.connect(self.db_name)
            try:
                max_id = connection.execute('select max(id) as id from oauthtoken').fetchone()[0]
                return 1 if max_id is None else int(max_id) + 1
            finally:
                connection.close()

        @staticmethod
        def are_all_objects_null(objects):
            return all(value is None for value in objects)

        @staticmethod
        def set_token(token):
            # The official DBStore's SET list: key='value' for every value the token has.
            pairs = []
            signature = token.get_user_signature()
            if signature is not None and signature.get_name():
                pairs.append((Constants.USER_NAME, signature.get_name()))
            for column, value in ((Constants.API_DOMAIN, token.get_api_domain()),
                                  (Constants.CLIENT_ID, token.get_client_id()),
                                  (Constants.CLIENT_SECRET, token.get_client_secret()),
                                  (Constants.REFRESH_TOKEN, token.get_refresh_token()),
                                  (Constants.ACCESS_TOKEN, token.get_access_token()),
                                  (Constants.GRANT_TOKEN, token.get_grant_token()),
                                  (Constants.EXPIRY_TIME, token.get_expires_in()),
                                  (Constants.REDIRECT_URL, token.get_redirect_url())):
                if value is not None:
                    pairs.append((column, value))
            return ','.join(f"{column}='{value}'" for column, value in pairs)

        @staticmethod
        def set_oauth_token(token):
            for field in OAuthToken.FIELDS:
                setattr(token, field, None)

        @staticmethod
        def set_merge_data(token, row):
            # Fills what the token lacks from a row in the official column order.
            if token.get_id() is None:
                token.set_id(row[0])
            if token.get_user_signature() is None and row[1] is not None:
                token.set_user_signature(UserSignature(row[1]))
            for index, field in enumerate(OAuthToken.FIELDS[2:], start=2):
                if getattr(token, field) is None and row[index] is not None:
                    setattr(token, field, str(row[index]))

    return CustomStoreSQLite
