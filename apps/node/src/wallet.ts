import { createHash, generateKeyPair, type JsonWebKey } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const generate = promisify(generateKeyPair)

export const WALLET_FILE = 'wallet.json'

/** An Arweave-style address: base64url(sha256(RSA modulus)). */
export function addressOf(jwk: JsonWebKey): string {
  if (jwk.kty !== 'RSA' || typeof jwk.n !== 'string') throw new Error('wallet is not an RSA JWK')
  return createHash('sha256').update(Buffer.from(jwk.n, 'base64url')).digest('base64url')
}

/**
 * The node's wallet (an RSA-4096 JWK, as Arweave and HyperBEAM use) from `<dataDir>/wallet.json`,
 * created on first start. Its address is the node's `address`.
 */
export async function loadOrCreateWallet(
  dataDir: string,
): Promise<{ jwk: JsonWebKey; address: string }> {
  const file = join(dataDir, WALLET_FILE)
  let jwk: JsonWebKey
  try {
    jwk = JSON.parse(await readFile(file, 'utf8')) as JsonWebKey
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read node wallet ${file}: ${(error as Error).message}`)
    }
    const { privateKey } = await generate('rsa', { modulusLength: 4096, publicExponent: 65537 })
    jwk = privateKey.export({ format: 'jwk' })
    await mkdir(dataDir, { recursive: true })
    await writeFile(file, JSON.stringify(jwk), { mode: 0o600, flag: 'wx' })
  }
  return { jwk, address: addressOf(jwk) }
}
