//! Wiring: the configuration, the store and the keys that every command needs.

use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use orgid_config::Config;
use orgid_directory::{Clock, PersonKeyer, Rules, SettingStore, SystemClock};
use orgid_store::AnyStore;
use ring::rand::{SecureRandom, SystemRandom};

/// The setting that holds a generated person-key secret: never written into a backup.
pub const PERSON_KEY_SECRET: &str = "person_key_secret";
const FINGERPRINT_KEY: &str = "person_key_fingerprint";

/// Everything a command runs against.
pub struct App {
    pub config: Config,
    pub store: AnyStore,
    pub keyer: PersonKeyer,
    pub rules: Rules,
    pub clock: Arc<dyn Clock>,
    pub tz: chrono_tz::Tz,
}

impl App {
    /// Connects (running migrations) and settles the person-key secret.
    pub async fn open(config: Config) -> anyhow::Result<App> {
        Self::open_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn open_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        let store = orgid_store::connect(config.store.url.expose(), config.store.max_connections)
            .await
            .context("while opening the store (store.url)")?;
        let keyer = person_keyer(&config, &store).await?;
        let tz = config.sync.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let rules = Rules::new(config.eligibility.clone());
        Ok(App { config, store, keyer, rules, clock, tz })
    }

    /// The same store, keys and clock under `config` (a reload): the rules and the zone follow it.
    pub fn reconfigured(&self, config: Config) -> App {
        let tz = config.sync.timezone.parse().unwrap_or(self.tz);
        App {
            rules: Rules::new(config.eligibility.clone()),
            config,
            store: self.store.clone(),
            keyer: self.keyer.clone(),
            clock: self.clock.clone(),
            tz,
        }
    }

    /// Today in the configured zone: a leaving date is a local date.
    pub fn today(&self) -> NaiveDate {
        self.clock.now().with_timezone(&self.tz).date_naive()
    }
}

/// The configured secret, or the one generated on first start; either way it must match the
/// fingerprint the store was first used with, or every person would silently split in two.
async fn person_keyer(config: &Config, store: &AnyStore) -> anyhow::Result<PersonKeyer> {
    let secret = match &config.identity.person_key_secret {
        Some(s) => s.expose().to_string(),
        None => {
            let mut bytes = [0u8; 32];
            SystemRandom::new().fill(&mut bytes).map_err(|_| anyhow::anyhow!("no system randomness"))?;
            store
                .init_setting(PERSON_KEY_SECRET, &hex::encode(bytes))
                .await
                .context("while keeping the person-key secret")?
        }
    };
    let keyer = PersonKeyer::new(secret.as_bytes());
    let stored = store
        .init_setting(FINGERPRINT_KEY, &keyer.fingerprint())
        .await
        .context("while checking the person-key secret")?;
    if stored != keyer.fingerprint() {
        bail!(
            "identity.person_key_secret does not match the secret this store was first used with; \
             person keys would no longer link people across companies. Restore the original secret."
        );
    }
    Ok(keyer)
}
