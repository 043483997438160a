#!/usr/bin/env python3
"""Independent reader of a vault's evidence (docs/format.md §6, §8, §9, §11, §16.2, §18):
opens the first passphrase slot that the passphrase unlocks, then every exhibit,
version-1 and version-2 envelopes, padded streams and the earlier last-chunk
layout, and re-hashes each to its SHA-256. Shares no code with Custodia.

    python3 scripts/check_evidence.py VAULT PASSPHRASE

Needs: python3 with cryptography and argon2-cffi."""
import struct
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
def rotl(v,c): return ((v<<c)&0xffffffff)|(v>>(32-c))
def qr(s,a,b,c,d):
    s[a]=(s[a]+s[b])&0xffffffff; s[d]^=s[a]; s[d]=rotl(s[d],16)
    s[c]=(s[c]+s[d])&0xffffffff; s[b]^=s[c]; s[b]=rotl(s[b],12)
    s[a]=(s[a]+s[b])&0xffffffff; s[d]^=s[a]; s[d]=rotl(s[d],8)
    s[c]=(s[c]+s[d])&0xffffffff; s[b]^=s[c]; s[b]=rotl(s[b],7)
def hchacha(key,n16):
    s=[0x61707865,0x3320646e,0x79622d32,0x6b206574]+list(struct.unpack('<8I',key))+list(struct.unpack('<4I',n16))
    for _ in range(10):
        qr(s,0,4,8,12);qr(s,1,5,9,13);qr(s,2,6,10,14);qr(s,3,7,11,15)
        qr(s,0,5,10,15);qr(s,1,6,11,12);qr(s,2,7,8,13);qr(s,3,4,9,14)
    return struct.pack('<8I',*(s[0:4]+s[12:16]))
import sqlite3, struct, json, hashlib, sys, unicodedata, hmac
from argon2.low_level import hash_secret_raw, Type
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
def hkdf(ikm, salt, label):
    prk = hmac.new(salt if salt else b'\0'*32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, b'custodia v1 ' + label.encode() + b'\x01', hashlib.sha256).digest()
def AD(vid, kind, record, version, field):
    lp = lambda s: struct.pack('>H', len(s.encode())) + s.encode()
    return b'custodia/v1/aad' + vid + lp(kind) + lp(record) + struct.pack('>Q', version) + lp(field)
def OPEN(key, ad, env):
    assert len(env) >= 41 and env[0] in (1, 2)
    aad = ad if env[0] == 1 else bytes([env[0]]) + ad
    return ChaCha20Poly1305(hchacha(key, env[1:17])).decrypt(b'\0'*4 + env[17:25], env[25:], aad)
def UNPAD(p):
    n = struct.unpack('>I', p[:4])[0]; assert 4 + n <= len(p); return p[4:4+n]
def padme(L):
    if L < 2: return L
    E = L.bit_length() - 1; S = E.bit_length(); mask = (1 << (E - S)) - 1
    return (L + mask) & ~mask
C = 1 << 20
db = sqlite3.connect(sys.argv[1]); pw = unicodedata.normalize('NFC', sys.argv[2]).encode()
vid = db.execute('select vault_id from vault').fetchone()[0]
for slot_id, user_id, m, t, p, salt, wm in db.execute("select slot_id,user_id,kdf_memory_kib,kdf_time_cost,kdf_parallelism,salt,wrapped_master from key_slots where kind='passphrase'"):
    S = hash_secret_raw(pw, salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=32, type=Type.ID, version=0x13)
    try: master = OPEN(hkdf(S, b'', 'slot-wrap'), AD(vid, 'slot', slot_id.hex() + ':' + user_id.hex(), 1, 'master'), wm); break
    except Exception: continue
else: sys.exit('wrong passphrase')
rk, ek = hkdf(master, vid, 'subkey records'), hkdf(master, vid, 'subkey evidence')
for (rid,) in db.execute("select record_id from records where kind='evidence'").fetchall():
    ov = json.loads(UNPAD(OPEN(rk, AD(vid, 'evidence', rid, 1, 'overview'),
        db.execute('select overview from record_versions where record_id=? and version=1', (rid,)).fetchone()[0])))
    rows = db.execute('select chunk_index, data from evidence_chunks where record_id=? order by chunk_index', (rid,)).fetchall()
    n, size = len(rows), ov['size']
    assert n == ov['chunk_count'] and [r[0] for r in rows] == list(range(n))
    stream = b''
    for i, data in rows:
        last = i == n - 1
        try:
            plain = OPEN(ek, AD(vid, 'evidence', rid, i, 'end-chunk' if last else 'chunk'), data); legacy = False
        except Exception:
            assert last; plain = UNPAD(OPEN(ek, AD(vid, 'evidence', rid, i, 'last-chunk'), data)); legacy = True
        assert last or len(plain) == C
        stream += plain
    if not legacy:
        T = max(64, padme(size)); assert len(stream) == T and n == T // C + 1 and not any(stream[size:])
    data = stream[:size] if not legacy else stream
    assert len(data) == size and hashlib.sha256(data).hexdigest() == ov['sha256']
    print(rid[:12], 'legacy' if legacy else 'padded', size, n, 'rows, sha256 ok')
