"""Runs the official Python SDK's token-store code for test/interop/python.test.ts.

Usage: python3 serve.py ARTICLE. Reads one JSON command per line on stdin and answers one JSON
line on stdout. The SQLite commands run the reference article's own methods (see article.py)
in the command's directory, on its zohooauth.db; the file commands run file_store.py.
"""
import json
import os
import sys
import time

from article import article_store
from file_store import PythonFileStore
from sdk_shim import OAuthToken, UserSignature, describe

CustomStoreSQLite = article_store(sys.argv[1])


def token_of(user):
    return OAuthToken(user_signature=UserSignature(user['name']), client_id=user['client_id'],
                      client_secret=user['client_secret'], refresh_token=user['refresh_token'],
                      access_token=user['access_token'], expires_in=str(user['expiry']),
                      api_domain=user.get('api_domain'))


def wait_for(barrier, parties):
    """Starts with the other writers: each adds a line to the barrier file, all go at `parties`."""
    with open(barrier, 'a') as f:
        f.write('python\n')
    deadline = time.time() + 60
    while True:
        with open(barrier) as f:
            if len(f.read().split()) >= parties:
                return
        if time.time() > deadline:
            raise TimeoutError(f'the other writers did not start within 60 s ({barrier})')
        time.sleep(0.001)


def save_all(store, users):
    ids, errors = {}, []
    started = time.time() * 1000
    for user in users:
        token = token_of(user)
        try:
            store.save_token(token)
            ids[user['name']] = token.get_id()
        except Exception as error:
            errors.append(f"{user['name']}: {describe(error)}")
    return {'ids': ids, 'errors': errors, 'started': started, 'finished': time.time() * 1000}


def found(token):
    if token is None:
        return None
    return {'id': token.get_id(), 'refresh_token': token.get_refresh_token(),
            'access_token': token.get_access_token()}


def sqlite_store(command):
    os.chdir(command['dir'])  # the article's store opens zohooauth.db in the working directory
    return CustomStoreSQLite()


def run(command):
    op = command['op']
    if op == 'int':
        values, errors = [], []
        for text in command['ids']:
            try:
                values.append(str(int(text)))
            except ValueError as error:
                errors.append(describe(error))
        return {'values': values, 'errors': errors}
    if op == 'sqlite.save':
        store = sqlite_store(command)
        if command.get('barrier'):
            wait_for(command['barrier'], command['parties'])
        return save_all(store, command['users'])
    if op == 'sqlite.find':
        store = sqlite_store(command)
        return {'found': {name: found(store.find_token(OAuthToken(user_signature=UserSignature(name))))
                          for name in command['names']}}
    if op == 'sqlite.delete':
        sqlite_store(command).delete_token(command['id'])
        return {}
    if op == 'sqlite.open':
        # The article's __init__ as it runs when check_table_exists answers `table_seen`.
        os.chdir(command['dir'])

        class Answering(CustomStoreSQLite):
            def check_table_exists(self):
                return command['table_seen']

        Answering()
        return {}
    if op == 'file.save':
        return save_all(PythonFileStore(command['path']), command['users'])
    if op == 'file.find':
        store = PythonFileStore(command['path'])
        return {'found': {name: found(store.find_token(name)) for name in command['names']}}
    raise ValueError(f'unknown command {op}')


for line in sys.stdin:
    try:
        answer = run(json.loads(line))
    except Exception as error:
        answer = {'error': describe(error)}
    sys.stdout.write(json.dumps(answer) + '\n')
    sys.stdout.flush()
