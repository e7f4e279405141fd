//! Clients, APIs (resource servers) and client grants: round trips, conflicts,
//! cascades, paging, and the system rows bootstrap creates.

use grantor_domain::ClientId;
use grantor_domain::{
    Client, ClientGrant, ResourceServer, ScopeDefinition, ScopeSet, SigningAlg, Timestamp,
    TokenEndpointAuthMethod, TokenHash,
};
use grantor_store::{ClientGrantFilter, Store, StoreError};

use crate::support::compare::{assert_api_eq, assert_client_eq, assert_grant_eq};
use crate::support::fixtures::{
    all, api, client, client_ids, grant, grant_ids, log_event, other_client, owned, page, plan, ts,
    MGMT_API, MGMT_AUDIENCE, MGMT_CLIENT, MGMT_GRANT,
};

conformance_tests! {
    client_round_trip,
    update_missing_client_is_not_found,
    only_set_client_secret_writes_the_secret,
    duplicate_client_id_is_conflict,
    list_clients_pages,
    resource_server_lookup_and_round_trip,
    duplicate_resource_server_is_conflict,
    client_grant_round_trip,
    machine_access_reads_the_api_and_the_clients_grant_at_once,
    client_grant_with_unknown_reference_is_missing_reference,
    duplicate_client_grant_is_conflict,
    deleting_client_deletes_its_grants,
    deleting_resource_server_deletes_its_grants,
    management_api_identifier_sync_cascades_to_grants,
    list_client_grants_filters_and_checkpoints,
    system_rows_are_never_deleted,
}

/// Inserts clients c1, c2 and APIs one, two (identifiers `https://one…`, `https://two…`).
async fn seed_clients_and_apis(store: &Store) {
    store.insert_client(&client("c1")).await.unwrap();
    store.insert_client(&other_client("c2")).await.unwrap();
    store
        .insert_resource_server(&api("api1", "https://one.example.com"))
        .await
        .unwrap();
    store
        .insert_resource_server(&api("api2", "https://two.example.com"))
        .await
        .unwrap();
}

/// `machine_access` answers what `resource_server_by_identifier` and
/// `client_grant_for` would, in one read: each part on its own.
async fn machine_access_reads_the_api_and_the_clients_grant_at_once(store: &Store) {
    seed_clients_and_apis(store).await;
    let g = grant("cgr_ma", "c1", "https://one.example.com");
    store.insert_client_grant(&g, None).await.unwrap();
    let access = |client: &'static str, audience: &'static str| async move {
        store
            .machine_access(&ClientId::from(client), audience)
            .await
            .unwrap()
    };

    let (api, grant) = access("c1", "https://one.example.com").await;
    assert_api_eq(
        &api.expect("the API"),
        &store
            .resource_server_by_identifier("https://one.example.com")
            .await
            .unwrap()
            .unwrap(),
    );
    assert_grant_eq(&grant.expect("c1's grant"), &g);

    // The API without a grant for this client, or for this API.
    let (api, grant) = access("c2", "https://one.example.com").await;
    assert_eq!(api.map(|a| a.id), Some("api1".to_owned()));
    assert!(grant.is_none());
    let (api, grant) = access("c1", "https://two.example.com").await;
    assert_eq!(api.map(|a| a.id), Some("api2".to_owned()));
    assert!(grant.is_none());
    // No API, and an identifier that only differs in case names none.
    let (api, grant) = access("c1", "https://nowhere.example.com").await;
    assert!(api.is_none() && grant.is_none());
    let (api, grant) = access("c1", "https://ONE.example.com").await;
    assert!(api.is_none() && grant.is_none());
}

async fn client_round_trip(store: &Store) {
    let a = client("app-a");
    let b = other_client("app-b");
    store.insert_client(&a).await.unwrap();
    store.insert_client(&b).await.unwrap();
    assert_client_eq(
        &store
            .client(&ClientId::from("app-a"))
            .await
            .unwrap()
            .unwrap(),
        &a,
    );
    assert_client_eq(
        &store
            .client(&ClientId::from("app-b"))
            .await
            .unwrap()
            .unwrap(),
        &b,
    );
    assert!(store
        .client(&ClientId::from("app-c"))
        .await
        .unwrap()
        .is_none());

    // The other auth method round-trips too.
    let mut c = client("app-c");
    c.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
    store.insert_client(&c).await.unwrap();
    assert_client_eq(
        &store
            .client(&ClientId::from("app-c"))
            .await
            .unwrap()
            .unwrap(),
        &c,
    );

    // Update every updatable field of `a` to `b`'s values; `created_at` and
    // `is_system` are not updatable and keep their stored values.
    let mut updated = other_client("app-a");
    updated.updated_at = ts(99);
    updated.created_at = ts(12_345);
    updated.is_system = true;
    store.update_client(&updated, None).await.unwrap();
    let read = store
        .client(&ClientId::from("app-a"))
        .await
        .unwrap()
        .unwrap();
    // Nor is the secret: only `set_client_secret` writes it.
    let expected = Client {
        created_at: a.created_at,
        is_system: false,
        secret_hash: a.secret_hash.clone(),
        ..updated.clone()
    };
    assert_client_eq(&read, &expected);
    // The update did not touch the other clients.
    assert_client_eq(
        &store
            .client(&ClientId::from("app-b"))
            .await
            .unwrap()
            .unwrap(),
        &b,
    );
    assert_client_eq(
        &store
            .client(&ClientId::from("app-c"))
            .await
            .unwrap()
            .unwrap(),
        &c,
    );

    // …and back, to check the other direction of every value.
    let mut back = client("app-a");
    back.updated_at = ts(100);
    store.update_client(&back, None).await.unwrap();
    assert_client_eq(
        &store
            .client(&ClientId::from("app-a"))
            .await
            .unwrap()
            .unwrap(),
        &back,
    );

    // The deleted client is gone; deleting again reports nothing deleted.
    assert!(store.delete_client(&ClientId::from("app-c")).await.unwrap());
    assert!(store
        .client(&ClientId::from("app-c"))
        .await
        .unwrap()
        .is_none());
    assert!(!store.delete_client(&ClientId::from("app-c")).await.unwrap());
}

/// A rotation racing a PATCH: the PATCH read the client before the
/// rotation and writes after it, and the rotated secret stays.
async fn only_set_client_secret_writes_the_secret(store: &Store) {
    store.insert_client(&client("app")).await.unwrap();
    let id = ClientId::from("app");
    let read_by_patch = store.client(&id).await.unwrap().unwrap();
    let rotated = TokenHash::of("the-new-secret");
    let event = log_event("rot1", "sapi", 50);
    store
        .set_client_secret(&id, &rotated, ts(50), &event)
        .await
        .unwrap();
    let mut patched = read_by_patch;
    patched.name = "renamed".to_owned();
    patched.updated_at = ts(60);
    store.update_client(&patched, None).await.unwrap();
    let now = store.client(&id).await.unwrap().unwrap();
    assert_eq!(now.secret_hash, rotated);
    assert_eq!(now.name, "renamed");
    assert!(store.log_event(&event.log_id).await.unwrap().is_some());
    let missed = log_event("rot2", "sapi", 70);
    assert_store_err!(
        store
            .set_client_secret(&ClientId::from("absent"), &rotated, ts(70), &missed)
            .await,
        StoreError::NotFound
    );
    assert!(store.log_event(&missed.log_id).await.unwrap().is_none());
}

async fn update_missing_client_is_not_found(store: &Store) {
    store.insert_client(&client("present")).await.unwrap();
    assert_store_err!(
        store.update_client(&client("absent"), None).await,
        StoreError::NotFound
    );
    assert!(store
        .client(&ClientId::from("absent"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.list_clients(all()).await.unwrap().total, 1);
}

async fn duplicate_client_id_is_conflict(store: &Store) {
    let original = client("dup");
    store.insert_client(&original).await.unwrap();
    let mut again = other_client("dup");
    again.name = "Impostor".to_owned();
    assert_store_err!(store.insert_client(&again).await, StoreError::Conflict(_));
    assert_client_eq(
        &store.client(&ClientId::from("dup")).await.unwrap().unwrap(),
        &original,
    );
    assert_eq!(store.list_clients(all()).await.unwrap().total, 1);
}

async fn list_clients_pages(store: &Store) {
    // Inserted out of order; c3 and c2 share a creation instant, so the
    // client_id breaks the tie.
    for (id, at) in [("c4", 40), ("c1", 10), ("c3", 20), ("c5", 50), ("c2", 20)] {
        let mut c = client(id);
        c.created_at = ts(at);
        store.insert_client(&c).await.unwrap();
    }
    assert_eq!(
        client_ids(store, all()).await,
        (owned(&["c1", "c2", "c3", "c4", "c5"]), 5)
    );
    assert_eq!(
        client_ids(store, page(0, 2)).await,
        (owned(&["c1", "c2"]), 5)
    );
    assert_eq!(
        client_ids(store, page(2, 2)).await,
        (owned(&["c3", "c4"]), 5)
    );
    assert_eq!(client_ids(store, page(4, 2)).await, (owned(&["c5"]), 5));
    assert_eq!(client_ids(store, page(5, 2)).await, (owned(&[]), 5));
    assert_eq!(client_ids(store, page(1, 0)).await, (owned(&[]), 5));

    // A full page carries whole clients, not just ids.
    let first = store.list_clients(page(0, 1)).await.unwrap();
    let mut expected = client("c1");
    expected.created_at = ts(10);
    assert_client_eq(&first.items[0], &expected);
}

async fn resource_server_lookup_and_round_trip(store: &Store) {
    let one = api("rs_1", "https://one.example.com/api");
    let mut two = api("rs_2", "urn:two");
    two.scopes = Vec::new();
    two.signing_alg = SigningAlg::EdDsa;
    two.allow_offline_access = false;
    two.skip_consent_for_verifiable_first_party_clients = true;
    two.token_lifetime = 60;
    two.token_lifetime_for_web = 30;
    two.created_at = ts(10);
    store.insert_resource_server(&one).await.unwrap();
    store.insert_resource_server(&two).await.unwrap();

    assert_api_eq(&store.resource_server("rs_1").await.unwrap().unwrap(), &one);
    assert_api_eq(
        &store
            .resource_server("https://one.example.com/api")
            .await
            .unwrap()
            .unwrap(),
        &one,
    );
    assert_api_eq(
        &store.resource_server("urn:two").await.unwrap().unwrap(),
        &two,
    );
    assert_api_eq(&store.resource_server("rs_2").await.unwrap().unwrap(), &two);
    assert!(store.resource_server("rs_3").await.unwrap().is_none());
    assert!(store
        .resource_server("https://one.example.com")
        .await
        .unwrap()
        .is_none());

    for alg in SigningAlg::ALL {
        let mut r = api(
            &format!("rs_{}", alg.as_str()),
            &format!("urn:{}", alg.as_str()),
        );
        r.signing_alg = alg;
        store.insert_resource_server(&r).await.unwrap();
        assert_api_eq(&store.resource_server(&r.id).await.unwrap().unwrap(), &r);
    }

    let listed = store.list_resource_servers(page(0, 2)).await.unwrap();
    assert_eq!(listed.total, 6);
    assert_eq!(listed.items.len(), 2);
    assert_api_eq(&listed.items[0], &one);

    // Update: every mutable field changes; the identifier (audience),
    // `is_system` and `created_at` stay.
    let mut updated = two.clone();
    updated.name = "Renamed".to_owned();
    updated.identifier = "urn:changed".to_owned();
    updated.scopes = vec![ScopeDefinition {
        value: "admin".to_owned(),
        description: "Everything".to_owned(),
    }];
    updated.signing_alg = SigningAlg::Es256;
    updated.allow_offline_access = true;
    updated.skip_consent_for_verifiable_first_party_clients = false;
    updated.token_lifetime = 7_200;
    updated.token_lifetime_for_web = 900;
    updated.is_system = true;
    updated.created_at = ts(777);
    updated.updated_at = ts(888);
    store.update_resource_server(&updated).await.unwrap();
    let expected = ResourceServer {
        identifier: two.identifier.clone(),
        is_system: false,
        created_at: two.created_at,
        ..updated.clone()
    };
    assert_api_eq(
        &store.resource_server("rs_2").await.unwrap().unwrap(),
        &expected,
    );
    assert!(store
        .resource_server("urn:changed")
        .await
        .unwrap()
        .is_none());

    assert_store_err!(
        store
            .update_resource_server(&api("rs_missing", "urn:missing"))
            .await,
        StoreError::NotFound
    );
}

async fn duplicate_resource_server_is_conflict(store: &Store) {
    let original = api("rs_1", "https://api.example.com");
    store.insert_resource_server(&original).await.unwrap();

    let mut same_identifier = api("rs_2", "https://api.example.com");
    same_identifier.name = "Impostor".to_owned();
    assert_store_err!(
        store.insert_resource_server(&same_identifier).await,
        StoreError::Conflict(_)
    );
    assert_store_err!(
        store
            .insert_resource_server(&api("rs_1", "https://other.example.com"))
            .await,
        StoreError::Conflict(_)
    );

    assert!(store.resource_server("rs_2").await.unwrap().is_none());
    assert!(store
        .resource_server("https://other.example.com")
        .await
        .unwrap()
        .is_none());
    assert_api_eq(
        &store
            .resource_server("https://api.example.com")
            .await
            .unwrap()
            .unwrap(),
        &original,
    );
    assert_eq!(store.list_resource_servers(all()).await.unwrap().total, 1);
}

async fn client_grant_round_trip(store: &Store) {
    seed_clients_and_apis(store).await;
    let g = grant("cgr_1", "c1", "https://one.example.com");
    store.insert_client_grant(&g, None).await.unwrap();
    assert_grant_eq(&store.client_grant("cgr_1").await.unwrap().unwrap(), &g);
    assert_grant_eq(
        &store
            .client_grant_for(&ClientId::from("c1"), "https://one.example.com")
            .await
            .unwrap()
            .unwrap(),
        &g,
    );
    assert!(store
        .client_grant_for(&ClientId::from("c1"), "https://two.example.com")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .client_grant_for(&ClientId::from("c2"), "https://one.example.com")
        .await
        .unwrap()
        .is_none());
    assert!(store.client_grant("cgr_2").await.unwrap().is_none());

    // An empty scope round-trips as empty.
    let mut empty = grant("cgr_2", "c2", "https://two.example.com");
    empty.scope = ScopeSet::default();
    store.insert_client_grant(&empty, None).await.unwrap();
    assert_grant_eq(&store.client_grant("cgr_2").await.unwrap().unwrap(), &empty);

    // Update changes the scope only.
    let mut updated = g.clone();
    updated.scope = ScopeSet::parse("c b a");
    updated.created_at = ts(999);
    store.update_client_grant(&updated, None).await.unwrap();
    let expected = ClientGrant {
        created_at: g.created_at,
        ..updated.clone()
    };
    assert_grant_eq(
        &store.client_grant("cgr_1").await.unwrap().unwrap(),
        &expected,
    );
    assert_store_err!(
        store
            .update_client_grant(&grant("cgr_missing", "c1", "https://one.example.com"), None)
            .await,
        StoreError::NotFound
    );

    assert!(store.delete_client_grant("cgr_1", None).await.unwrap());
    assert!(store.client_grant("cgr_1").await.unwrap().is_none());
    assert!(!store.delete_client_grant("cgr_1", None).await.unwrap());
    // The client and the API are untouched.
    assert!(store.client(&ClientId::from("c1")).await.unwrap().is_some());
    assert!(store
        .resource_server("https://one.example.com")
        .await
        .unwrap()
        .is_some());
}

async fn client_grant_with_unknown_reference_is_missing_reference(store: &Store) {
    seed_clients_and_apis(store).await;
    assert_store_err!(
        store
            .insert_client_grant(
                &grant("cgr_1", "no-such-client", "https://one.example.com"),
                None
            )
            .await,
        StoreError::MissingReference(_)
    );
    assert_store_err!(
        store
            .insert_client_grant(
                &grant("cgr_2", "c1", "https://no-such-api.example.com"),
                None
            )
            .await,
        StoreError::MissingReference(_)
    );
    // The audience is the API's identifier, not its id.
    assert_store_err!(
        store
            .insert_client_grant(&grant("cgr_3", "c1", "api1"), None)
            .await,
        StoreError::MissingReference(_)
    );
    let all_grants = store
        .list_client_grants(&ClientGrantFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(all_grants.total, 0);
    assert!(all_grants.items.is_empty());
}

async fn duplicate_client_grant_is_conflict(store: &Store) {
    seed_clients_and_apis(store).await;
    let original = grant("cgr_1", "c1", "https://one.example.com");
    store.insert_client_grant(&original, None).await.unwrap();

    let mut again = grant("cgr_2", "c1", "https://one.example.com");
    again.scope = ScopeSet::parse("read:things");
    assert_store_err!(
        store.insert_client_grant(&again, None).await,
        StoreError::Conflict(_)
    );
    // Same id, other pair: also a conflict.
    assert_store_err!(
        store
            .insert_client_grant(&grant("cgr_1", "c2", "https://two.example.com"), None)
            .await,
        StoreError::Conflict(_)
    );

    assert!(store.client_grant("cgr_2").await.unwrap().is_none());
    assert_grant_eq(
        &store
            .client_grant_for(&ClientId::from("c1"), "https://one.example.com")
            .await
            .unwrap()
            .unwrap(),
        &original,
    );
    // The same client with another API, and another client with the same API, are fine.
    store
        .insert_client_grant(&grant("cgr_3", "c1", "https://two.example.com"), None)
        .await
        .unwrap();
    store
        .insert_client_grant(&grant("cgr_4", "c2", "https://one.example.com"), None)
        .await
        .unwrap();
    assert_eq!(
        grant_ids(store, &ClientGrantFilter::default(), all()).await,
        (owned(&["cgr_1", "cgr_3", "cgr_4"]), 3)
    );
}

async fn deleting_client_deletes_its_grants(store: &Store) {
    seed_clients_and_apis(store).await;
    for (id, c, aud) in [
        ("g1", "c1", "https://one.example.com"),
        ("g2", "c1", "https://two.example.com"),
        ("g3", "c2", "https://one.example.com"),
    ] {
        store
            .insert_client_grant(&grant(id, c, aud), None)
            .await
            .unwrap();
    }
    assert!(store.delete_client(&ClientId::from("c1")).await.unwrap());
    assert!(store.client(&ClientId::from("c1")).await.unwrap().is_none());
    assert!(store.client_grant("g1").await.unwrap().is_none());
    assert!(store.client_grant("g2").await.unwrap().is_none());
    assert_eq!(
        grant_ids(store, &ClientGrantFilter::default(), all()).await,
        (owned(&["g3"]), 1)
    );
    // The APIs stay.
    assert_eq!(store.list_resource_servers(all()).await.unwrap().total, 2);
    // A new client reusing the id starts without grants.
    store.insert_client(&client("c1")).await.unwrap();
    assert!(store
        .client_grant_for(&ClientId::from("c1"), "https://one.example.com")
        .await
        .unwrap()
        .is_none());
}

async fn deleting_resource_server_deletes_its_grants(store: &Store) {
    seed_clients_and_apis(store).await;
    for (id, c, aud) in [
        ("g1", "c1", "https://one.example.com"),
        ("g2", "c1", "https://two.example.com"),
        ("g3", "c2", "https://one.example.com"),
    ] {
        store
            .insert_client_grant(&grant(id, c, aud), None)
            .await
            .unwrap();
    }
    assert!(store.delete_resource_server("api1").await.unwrap());
    assert!(store.resource_server("api1").await.unwrap().is_none());
    assert!(store
        .resource_server("https://one.example.com")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        grant_ids(store, &ClientGrantFilter::default(), all()).await,
        (owned(&["g2"]), 1)
    );
    // Deleting by identifier is not supported: the id is required.
    assert!(!store
        .delete_resource_server("https://two.example.com")
        .await
        .unwrap());
    assert!(!store.delete_resource_server("api1").await.unwrap());
    // The clients stay.
    assert_eq!(store.list_clients(all()).await.unwrap().total, 2);
}

async fn management_api_identifier_sync_cascades_to_grants(store: &Store) {
    let p = plan("sync");
    assert!(store.bootstrap(&p).await.unwrap());
    // An ordinary API and a grant for it must not be touched.
    store
        .insert_resource_server(&api("other", "https://other.example.com"))
        .await
        .unwrap();
    store
        .insert_client_grant(
            &grant("cgr_other", MGMT_CLIENT, "https://other.example.com"),
            None,
        )
        .await
        .unwrap();

    const NEW: &str = "https://new.example.com/api/v2/";
    store
        .sync_management_api_identifier(NEW, ts(5_000))
        .await
        .unwrap();

    let api = store
        .resource_server(NEW)
        .await
        .unwrap()
        .expect("renamed API");
    assert_eq!(api.id, MGMT_API);
    assert!(api.is_system);
    assert_eq!(api.updated_at, ts(5_000));
    assert!(store
        .resource_server(MGMT_AUDIENCE)
        .await
        .unwrap()
        .is_none());

    // ON UPDATE CASCADE: the grant follows the identifier.
    let g = store.client_grant(MGMT_GRANT).await.unwrap().unwrap();
    assert_eq!(g.audience, NEW);
    assert_eq!(g.scope.to_wire(), p.management_grant.scope.to_wire());
    assert!(store
        .client_grant_for(&ClientId::from(MGMT_CLIENT), NEW)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .client_grant_for(&ClientId::from(MGMT_CLIENT), MGMT_AUDIENCE)
        .await
        .unwrap()
        .is_none());
    let by_audience = ClientGrantFilter {
        audience: Some(NEW.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        grant_ids(store, &by_audience, all()).await,
        (owned(&[MGMT_GRANT]), 1)
    );

    // The ordinary API and its grant are unchanged.
    let other = store.resource_server("other").await.unwrap().unwrap();
    assert_eq!(other.identifier, "https://other.example.com");
    assert_eq!(other.updated_at, api_updated_at_fixture());
    assert_eq!(
        store
            .client_grant("cgr_other")
            .await
            .unwrap()
            .unwrap()
            .audience,
        "https://other.example.com"
    );

    // Syncing to the current identifier changes nothing (not even updated_at).
    store
        .sync_management_api_identifier(NEW, ts(9_000))
        .await
        .unwrap();
    let again = store.resource_server(MGMT_API).await.unwrap().unwrap();
    assert_eq!(again.identifier, NEW);
    assert_eq!(again.updated_at, ts(5_000));
}

fn api_updated_at_fixture() -> Timestamp {
    api("x", "y").updated_at
}

async fn list_client_grants_filters_and_checkpoints(store: &Store) {
    seed_clients_and_apis(store).await;
    const ONE: &str = "https://one.example.com";
    const TWO: &str = "https://two.example.com";
    // Inserted out of id order; lists are ordered by id.
    for (id, c, aud) in [
        ("g3", "c2", ONE),
        ("g1", "c1", ONE),
        ("g4", "c2", TWO),
        ("g2", "c1", TWO),
    ] {
        store
            .insert_client_grant(&grant(id, c, aud), None)
            .await
            .unwrap();
    }
    let filter =
        |client: Option<&str>, audience: Option<&str>, after: Option<&str>| ClientGrantFilter {
            client_id: client.map(ClientId::from),
            audience: audience.map(str::to_owned),
            after_id: after.map(str::to_owned),
        };

    assert_eq!(
        grant_ids(store, &filter(None, None, None), all()).await,
        (owned(&["g1", "g2", "g3", "g4"]), 4)
    );
    assert_eq!(
        grant_ids(store, &filter(Some("c1"), None, None), all()).await,
        (owned(&["g1", "g2"]), 2)
    );
    assert_eq!(
        grant_ids(store, &filter(None, Some(ONE), None), all()).await,
        (owned(&["g1", "g3"]), 2)
    );
    assert_eq!(
        grant_ids(store, &filter(Some("c2"), Some(TWO), None), all()).await,
        (owned(&["g4"]), 1)
    );
    assert_eq!(
        grant_ids(store, &filter(Some("nobody"), None, None), all()).await,
        (owned(&[]), 0)
    );
    assert_eq!(
        grant_ids(store, &filter(None, Some("urn:nothing"), None), all()).await,
        (owned(&[]), 0)
    );

    // Offset paging.
    assert_eq!(
        grant_ids(store, &filter(None, None, None), page(1, 2)).await,
        (owned(&["g2", "g3"]), 4)
    );
    assert_eq!(
        grant_ids(store, &filter(None, None, None), page(4, 2)).await,
        (owned(&[]), 4)
    );

    // Checkpoint paging: only ids after the checkpoint. The total counts the
    // whole filtered set (the checkpoint is not part of it): the Management
    // API reports it as the collection's size.
    assert_eq!(
        grant_ids(store, &filter(None, None, Some("g2")), all()).await,
        (owned(&["g3", "g4"]), 4)
    );
    assert_eq!(
        grant_ids(store, &filter(None, None, Some("g4")), all()).await,
        (owned(&[]), 4)
    );
    assert_eq!(
        grant_ids(store, &filter(None, None, Some("g0")), page(0, 3)).await,
        (owned(&["g1", "g2", "g3"]), 4)
    );
    // A checkpoint that is not itself an id still works (ids compare as text).
    assert_eq!(
        grant_ids(store, &filter(None, None, Some("g25")), all()).await,
        (owned(&["g3", "g4"]), 4)
    );
    assert_eq!(
        grant_ids(store, &filter(Some("c2"), None, Some("g1")), all()).await,
        (owned(&["g3", "g4"]), 2)
    );
    assert_eq!(
        grant_ids(store, &filter(None, Some(TWO), Some("g1")), page(0, 1)).await,
        (owned(&["g2"]), 2)
    );
    assert_eq!(
        grant_ids(store, &filter(None, Some(TWO), Some("g2")), page(0, 1)).await,
        (owned(&["g4"]), 2)
    );

    // Whole grants come back, not just ids.
    let page = store
        .list_client_grants(&filter(Some("c1"), Some(ONE), None), all())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_grant_eq(&page.items[0], &grant("g1", "c1", ONE));
}

async fn system_rows_are_never_deleted(store: &Store) {
    let p = plan("sys");
    assert!(store.bootstrap(&p).await.unwrap());

    assert!(!store
        .delete_client(&ClientId::from(MGMT_CLIENT))
        .await
        .unwrap());
    assert!(!store.delete_resource_server(MGMT_API).await.unwrap());

    assert_client_eq(
        &store
            .client(&ClientId::from(MGMT_CLIENT))
            .await
            .unwrap()
            .unwrap(),
        &p.management_client,
    );
    assert_api_eq(
        &store.resource_server(MGMT_API).await.unwrap().unwrap(),
        &p.management_api,
    );
    // Nothing cascaded either.
    assert_grant_eq(
        &store.client_grant(MGMT_GRANT).await.unwrap().unwrap(),
        &p.management_grant,
    );

    // Ordinary rows next to them are deletable.
    store.insert_client(&client("plain")).await.unwrap();
    store
        .insert_resource_server(&api("plain-api", "urn:plain"))
        .await
        .unwrap();
    assert!(store.delete_client(&ClientId::from("plain")).await.unwrap());
    assert!(store.delete_resource_server("plain-api").await.unwrap());
    assert_eq!(client_ids(store, all()).await, (owned(&[MGMT_CLIENT]), 1));
    assert_eq!(store.list_resource_servers(all()).await.unwrap().total, 1);
}
