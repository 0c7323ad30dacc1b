import { describe, expect, it } from '@jest/globals';
import { discoveryUrlOf, isIssuerUrl } from '../../src/identity/provider-keys';

describe("the identity provider's address", () => {
  it('an issuer names a provider only as an http(s) URL', () => {
    expect(isIssuerUrl('https://login.example.com/realms/shop')).toBe(true);
    expect(isIssuerUrl('HTTP://127.0.0.1:8080')).toBe(true);
    for (const issuer of [undefined, 'subscriptions-tools', 'urn:example:idp', 'ftp://idp']) {
      expect(isIssuerUrl(issuer)).toBe(false);
    }
  });

  it("discovery is at the issuer's well-known path, with or without its trailing slash", () => {
    expect(discoveryUrlOf('https://keycloak.example.com/realms/shop')).toBe(
      'https://keycloak.example.com/realms/shop/.well-known/openid-configuration',
    );
    expect(discoveryUrlOf('https://tenant.eu.auth0.com/')).toBe(
      'https://tenant.eu.auth0.com/.well-known/openid-configuration',
    );
  });
});
