// A throwaway certificate for 127.0.0.1 (openssl, a few days valid) for HTTPS registries in tests, and
// the ways the processes under test are told to trust it: SSL_CERT_FILE for crane and helm (Go reads its
// roots from there), NODE_EXTRA_CA_CERTS for a Node process started with it, and `trustInThisProcess`
// for the test's own worker (Node 24's tls.setDefaultCACertificates, which fetch follows).
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { getCACertificates, setDefaultCACertificates } from "node:tls";

export interface TestCertificate {
  certificatePath: string;
  keyPath: string;
  /** The certificate (self-signed: it is its own CA), PEM. */
  pem: string;
}

/** A self-signed certificate for IP 127.0.0.1 and DNS localhost, written into `dir`. */
export async function makeTestCertificate(dir: string, name = "registry"): Promise<TestCertificate> {
  const certificatePath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  await new Promise<void>((resolve, reject) => {
    execFile(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        keyPath,
        "-out",
        certificatePath,
        "-days",
        "3",
        "-subj",
        `/CN=ecr-mirror test ${name}`,
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
      ],
      (error, _stdout, stderr) =>
        error ? reject(new Error(`openssl: ${stderr || error.message}`)) : resolve(),
    );
  });
  return { certificatePath, keyPath, pem: readFileSync(certificatePath, "utf8") };
}

/** Makes this test worker's fetch trust `pem` besides the usual roots. */
export function trustInThisProcess(pem: string): void {
  setDefaultCACertificates([...getCACertificates("default"), pem]);
}

/** Whether an HTTPS server answers `url` with 200 or 401, trusting only `certificate`. */
export function answersOverTls(url: string, certificate: TestCertificate, agent: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      url,
      { ca: certificate.pem, headers: { "user-agent": agent }, timeout: 500 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200 || res.statusCode === 401);
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}
