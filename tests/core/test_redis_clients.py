from core.redis_clients import broker_redis, limits_storage_url


def test_it_keeps_the_rate_limits_on_the_brokers_redis():
    assert limits_storage_url("redis://10.0.0.5:6379/2", None) == "redis://10.0.0.5:6379/2"
    assert limits_storage_url("sentinel://a:26379;sentinel://b:26380", "outbound") == "redis+sentinel://a:26379,b:26380/outbound"
    assert limits_storage_url("filesystem://", None) == "memory://"


def test_it_has_no_redis_client_for_another_broker(settings):
    settings.CELERY_BROKER_URL = "filesystem://"
    assert broker_redis() is None


def test_it_reads_the_password_and_database_from_the_first_sentinel_address(settings):
    settings.CELERY_BROKER_URL = "sentinel://:s3cret@a:26379/4;sentinel://b:26379"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"master_name": "outbound"}
    kwargs = broker_redis().connection_pool.connection_kwargs
    assert (kwargs["password"], kwargs["db"]) == ("s3cret", 4)
