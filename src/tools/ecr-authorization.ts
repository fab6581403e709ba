/** Asks ECR for a registry token (`ecr:GetAuthorizationToken`) and decodes it, masked before use. */
import { type ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { decodeEcrAuthorization, type EcrAuthorization, type SecretMask } from "./credentials.js";

/** The token for the caller's default registry (`registryIds` is deprecated by ECR and not sent). */
export async function fetchEcrAuthorization(client: ECRClient, mask: SecretMask): Promise<EcrAuthorization> {
  const response = await client.send(new GetAuthorizationTokenCommand({}));
  const data = response.authorizationData?.[0];
  if (!data) throw new Error("ECR GetAuthorizationToken returned no authorization data");
  return decodeEcrAuthorization(data, mask);
}
