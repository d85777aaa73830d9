// Makes node.json: password-hash test vectors from npm packages that implement ASP.NET Core Identity's
// PasswordHasher, Firebase's modified scrypt and the PHC pbkdf2 string.
// Run from this folder: npm ci && node node_vectors.mjs > ../node.json
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'

const require = createRequire(import.meta.url)
const { PasswordHasher, PasswordHasherCompatibilityMode } =
  require('aspnetcore-identity-password-hasher/build/PasswordHasher.js')
const { FirebaseScrypt } = require('firebase-scrypt/dist/firebaseScrypt.js')
const phcPbkdf2 = require('@phc/pbkdf2')

const version = (name) => JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')).version
const tool = (name) => `npm ${name}@${version(name)} on Node.js ${process.version}`

const PASSWORDS = ['correct horse battery staple', 'pässwörd ✓ 🔑', 'Tr0ub4dor&3']
const vectors = []
function add (v) {
  v.wrong = [v.password + ' ', PASSWORDS[(PASSWORDS.indexOf(v.password) + 1) % PASSWORDS.length]]
  vectors.push(v)
}

// ASP.NET Core Identity: v2 (PBKDF2-HMAC-SHA1, 1000 iterations) and v3 (PBKDF2-HMAC-SHA256, its default 10000
// iterations and a raised count).
for (const [i, mode, iter, label] of [
  [0, PasswordHasherCompatibilityMode.IdentityV2, 10000, 'v2'],
  [1, PasswordHasherCompatibilityMode.IdentityV3, 10000, 'v3-sha256-10000'],
  [2, PasswordHasherCompatibilityMode.IdentityV3, 150000, 'v3-sha256-150000'],
]) {
  const h = new PasswordHasher(iter, mode)
  const pw = PASSWORDS[i]
  const hash = await h.hashPassword(pw)
  if (!(await h.verifyHashedPassword(hash, pw))) throw new Error('aspnet self-check failed')
  add({ name: `aspnet-identity-${label}`, tool: tool('aspnetcore-identity-password-hasher'),
    call: `new PasswordHasher(${iter}, PasswordHasherCompatibilityMode.${mode === 0 ? 'IdentityV2' : 'IdentityV3'}).hashPassword(pw)`,
    format: 'aspnet-identity', hash, password: pw, strength: iter >= 100000 && mode === 1 ? 'strong' : 'weak' })
}

// Firebase: the sample project parameters published in firebase/scrypt's README, and a second project made
// up here with other rounds and memory cost.
const projects = [
  { label: 'readme-params', signerKey: 'jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==',
    saltSeparator: 'Bw==', rounds: 8, memCost: 14, strength: 'strong' },
  { label: 'other-project', signerKey: randomBytes(64).toString('base64'), saltSeparator: randomBytes(2).toString('base64'),
    rounds: 4, memCost: 12, strength: 'weak' },
]
for (const p of projects) {
  const fs = new FirebaseScrypt({ memCost: p.memCost, rounds: p.rounds, saltSeparator: p.saltSeparator, signerKey: p.signerKey })
  for (const [i, pw] of PASSWORDS.entries()) {
    const salt = randomBytes(12).toString('base64')
    const hash = await fs.hash(pw, salt)
    if (!(await fs.verify(pw, salt, hash))) throw new Error('firebase self-check failed')
    add({ name: `firebase-scrypt-${p.label}-pw${i}`, tool: tool('firebase-scrypt'),
      call: `new FirebaseScrypt({memCost: ${p.memCost}, rounds: ${p.rounds}, saltSeparator, signerKey}).hash(pw, salt)`,
      format: 'firebase-scrypt', hash, salt, password: pw, strength: p.strength,
      firebase: { signerKey: p.signerKey, saltSeparator: p.saltSeparator, rounds: p.rounds, memCost: p.memCost } })
  }
}

// PHC pbkdf2 strings with "i=" parameters and standard base64 (as @phc/pbkdf2 writes them).
for (const [i, digest, iterations] of [[0, 'sha1', 20000], [1, 'sha256', 150000], [2, 'sha512', 25000]]) {
  const pw = PASSWORDS[i]
  const hash = await phcPbkdf2.hash(pw, { digest, iterations })
  if (!(await phcPbkdf2.verify(hash, pw))) throw new Error('phc self-check failed')
  add({ name: `phc-pbkdf2-${digest}-${iterations}`, tool: tool('@phc/pbkdf2'),
    call: `require('@phc/pbkdf2').hash(pw, {digest: '${digest}', iterations: ${iterations}})`,
    format: 'pbkdf2', hash, password: pw, strength: iterations >= 100000 ? 'strong' : 'weak' })
}

process.stdout.write(JSON.stringify(vectors, null, 1) + '\n')
