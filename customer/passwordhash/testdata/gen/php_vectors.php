<?php
// Makes php.json: password-hash test vectors from PHP's password_hash() and, for Magento 2 and the
// legacy salted digests, from PHP's hash()/md5()/sha1() and ext/sodium exactly as the platforms call
// them.  Run: php php_vectors.php > ../php.json
//
// Magento 2 (Magento\Framework\Encryption\Encryptor, 2.4.x) stores "hash:salt:version[:version…]":
//   version 0: md5(salt . x)               version 1: hash('sha256', salt . x)
//   version 2: bin2hex(sodium_crypto_pwhash(SODIUM_CRYPTO_SIGN_SEEDBYTES, x, salt16,
//              SODIUM_CRYPTO_PWHASH_OPSLIMIT_INTERACTIVE, SODIUM_CRYPTO_PWHASH_MEMLIMIT_INTERACTIVE,
//              SODIUM_CRYPTO_PWHASH_ALG_ARGON2ID13))
//   version "3_<seedBytes>_<opsLimit>_<memLimit>": the same with those numbers spelled out
//   salt16 = the salt cut to, or repeated up to, SODIUM_CRYPTO_PWHASH_SALTBYTES (16) bytes;
//   x is the password for the first version and the previous hex result for each later one.
// The Encryptor itself is not installable here (no Composer registry), so this restates those calls.

$PASSWORDS = ["correct horse battery staple", "pässwörd ✓ 🔑", "Tr0ub4dor&3"];
$TOOL = "PHP " . PHP_VERSION . " (Debian php8.2-cli), libsodium " . SODIUM_LIBRARY_VERSION;

$vectors = [];
function add(&$vectors, $name, $call, $format, $hash, $password, $strength, $extra = []) {
    $P = $GLOBALS['PASSWORDS'];
    $i = array_search($password, $P, true);
    $wrong = [$password . " ", $P[(($i === false ? 0 : $i) + 1) % count($P)]];
    $v = ["name" => $name, "tool" => $GLOBALS['TOOL'], "call" => $call, "format" => $format, "hash" => $hash,
          "password" => $password, "wrong" => $wrong, "strength" => $strength];
    $vectors[] = array_merge($v, $extra);
}

// password_hash: bcrypt ($2y$) and argon2i / argon2id with PHP's defaults and with other costs.
foreach ([[10, 0], [9, 2]] as [$cost, $i]) {
    $pw = $PASSWORDS[$i];
    $h = password_hash($pw, PASSWORD_BCRYPT, ["cost" => $cost]);
    assert(password_verify($pw, $h));
    add($vectors, "php-bcrypt-2y-cost$cost", "password_hash(\$pw, PASSWORD_BCRYPT, ['cost' => $cost])", "bcrypt", $h,
        $pw, $cost < 10 ? "weak" : "strong");
}
// bcrypt reads only the first 72 bytes: PHP accepts the longer password and ignores the rest.
$long = str_repeat("0123456789", 8);
$h = password_hash($long, PASSWORD_BCRYPT, ["cost" => 10]);
add($vectors, "php-bcrypt-2y-80-byte-password", "password_hash(str_repeat('0123456789', 8), PASSWORD_BCRYPT, ['cost' => 10])",
    "bcrypt", $h, $long, "strong", ["wrong" => [substr($long, 0, 71), "x" . substr($long, 1)],
    "alsoAccepted" => [substr($long, 0, 72), substr($long, 0, 72) . "anything after byte 72"]]);
assert(password_verify(substr($long, 0, 72) . "anything after byte 72", $h));

$h = password_hash($PASSWORDS[0], PASSWORD_ARGON2ID);
add($vectors, "php-argon2id-default", "password_hash(\$pw, PASSWORD_ARGON2ID)", "argon2", $h, $PASSWORDS[0], "strong");
$h = password_hash($PASSWORDS[1], PASSWORD_ARGON2I);
add($vectors, "php-argon2i-default", "password_hash(\$pw, PASSWORD_ARGON2I)", "argon2", $h, $PASSWORDS[1], "strong");
$h = password_hash($PASSWORDS[2], PASSWORD_ARGON2ID, ["memory_cost" => 4096, "time_cost" => 3, "threads" => 2]);
add($vectors, "php-argon2id-4MiB-t3-p2",
    "password_hash(\$pw, PASSWORD_ARGON2ID, ['memory_cost' => 4096, 'time_cost' => 3, 'threads' => 2])", "argon2", $h,
    $PASSWORDS[2], "weak");

// Magento 2.
function magentoSalt16($salt) {
    $n = SODIUM_CRYPTO_PWHASH_SALTBYTES;
    if (strlen($salt) < $n) { return str_pad($salt, $n, $salt); }
    return substr($salt, 0, $n);
}
function magentoStep($x, $salt, $version) {
    if ($version === "0") { return md5($salt . $x); }
    if ($version === "1") { return hash('sha256', $salt . $x); }
    if ($version === "2") {
        return bin2hex(sodium_crypto_pwhash(SODIUM_CRYPTO_SIGN_SEEDBYTES, $x, magentoSalt16($salt),
            SODIUM_CRYPTO_PWHASH_OPSLIMIT_INTERACTIVE, SODIUM_CRYPTO_PWHASH_MEMLIMIT_INTERACTIVE,
            SODIUM_CRYPTO_PWHASH_ALG_ARGON2ID13));
    }
    [$three, $seed, $ops, $mem] = explode("_", $version);
    return bin2hex(sodium_crypto_pwhash((int)$seed, $x, magentoSalt16($salt), (int)$ops, (int)$mem,
        SODIUM_CRYPTO_PWHASH_ALG_ARGON2ID13));
}
function magento($password, $salt, $versions) {
    $x = $password;
    foreach ($versions as $v) { $x = magentoStep($x, $salt, $v); }
    return $x . ":" . $salt . ":" . implode(":", $versions);
}
function randomMagentoSalt($n) { // Magento\Framework\Math\Random::getRandomString: [A-Za-z0-9]
    $chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    $s = "";
    for ($i = 0; $i < $n; $i++) { $s .= $chars[random_int(0, strlen($chars) - 1)]; }
    return $s;
}
$agnostic = implode("_", ["3", SODIUM_CRYPTO_SIGN_SEEDBYTES, SODIUM_CRYPTO_PWHASH_OPSLIMIT_INTERACTIVE,
    SODIUM_CRYPTO_PWHASH_MEMLIMIT_INTERACTIVE]);
$cases = [
    ["magento2-sha256", ["1"], 32, "weak", false],
    ["magento2-argon2id13", ["2"], 32, "strong", false],
    ["magento2-argon2id13-agnostic", [$agnostic], 32, "strong", false],
    ["magento2-argon2id13-short-salt", ["2"], 5, "strong", false],
    ["magento2-sha256-upgraded-to-argon2id13", ["1", "2"], 32, "strong", false],
    ["magento2-md5-upgraded-to-agnostic", ["0", $agnostic], 32, "strong", false],
    ["magento2-md5", ["0"], 32, "weak", true],
];
foreach ($cases as $i => [$name, $versions, $saltLen, $strength, $legacy]) {
    $pw = $PASSWORDS[$i % count($PASSWORDS)];
    $h = magento($pw, randomMagentoSalt($saltLen), $versions);
    add($vectors, $name, "versions " . implode(":", $versions) . " with a $saltLen-character salt", "magento2", $h, $pw,
        $strength, $legacy ? ["allowCrackableLegacyHashes" => true] : []);
}

// Legacy salted digests as the old shop platforms computed them with PHP's own functions.
$legacy = [
    // Magento 1 CE: md5($salt . $password), stored "hash:salt".
    ["magento1-md5", "md5", fn($p, $s) => md5($s . $p) . ":" . $s, "md5(\$salt . \$pw) . ':' . \$salt", 2, true],
    // Magento 1 EE / later CE: hash('sha256', $salt . $password), stored "hash:salt".
    ["magento1-sha256", "sha256", fn($p, $s) => hash('sha256', $s . $p) . ":" . $s,
        "hash('sha256', \$salt . \$pw) . ':' . \$salt", 32, true],
    // Salt in its own field, before and after the password.
    ["sha1-salt-field", "sha1", fn($p, $s) => sha1($s . $p), "sha1(\$salt . \$pw)", 16, false],
    ["sha256-salt-suffix", "sha256-salt-suffix", fn($p, $s) => hash('sha256', $p . $s), "hash('sha256', \$pw . \$salt)", 16, false],
    ["sha512-salt-field", "sha512", fn($p, $s) => hash('sha512', $s . $p), "hash('sha512', \$salt . \$pw)", 16, false],
    ["md5-salt-suffix", "md5-salt-suffix", fn($p, $s) => md5($p . $s), "md5(\$pw . \$salt)", 8, false],
    ["sha1-salt-suffix-uppercase", "sha1-salt-suffix", fn($p, $s) => strtoupper(sha1($p . $s)), "strtoupper(sha1(\$pw . \$salt))", 12, false],
    ["sha512-salt-suffix", "sha512-salt-suffix", fn($p, $s) => hash('sha512', $p . $s), "hash('sha512', \$pw . \$salt)", 20, false],
    ["md5-unsalted", "md5", fn($p, $s) => md5($p), "md5(\$pw)", 0, false],
];
foreach ($legacy as $i => [$name, $format, $fn, $call, $saltLen, $inHash]) {
    $pw = $PASSWORDS[$i % count($PASSWORDS)];
    $salt = randomMagentoSalt($saltLen);
    $extra = ["allowCrackableLegacyHashes" => true];
    if (!$inHash && $saltLen > 0) { $extra["salt"] = $salt; }
    add($vectors, "legacy-$name", $call, $format, $fn($pw, $salt), $pw, "weak", $extra);
}

echo json_encode($vectors, JSON_PRETTY_PRINT | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES), "\n";
