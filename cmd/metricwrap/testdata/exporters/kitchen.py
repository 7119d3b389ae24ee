"""A seed-style exporter using every prometheus_client metric type, with
fixed values so a test can check each sample."""

from exporters.exporter import Exporter
from lib import timing


class KitchenExporter(Exporter):
    job_name = 'kitchen_job'

    def gather_metrics(self):
        temperature = self.metrics.Gauge('kitchen_temperature_celsius', 'Temperature by room.', ['room'])
        temperature.labels('kitchen').set(21.5)
        temperature.labels('pantry').set(-3.25)

        meals = self.metrics.Counter('kitchen_meals', 'Meals cooked.', ['course'])
        meals.labels('main').inc(3)
        meals.labels('dessert').inc(2)

        prep = self.metrics.Summary('kitchen_prep_seconds', 'Preparation time.')
        for v in (1.5, 2.5, 4.0):
            prep.observe(v)

        portions = self.metrics.Histogram('kitchen_portion_grams', 'Portion sizes.', buckets=(100, 250, 500))
        for v in (90, 200, 300, 800):
            portions.observe(v)

        oven = self.metrics.Enum('kitchen_oven_state', 'Oven state.', states=['off', 'heating', 'ready'])
        oven.state('heating')

        build = self.metrics.Info('kitchen_build', 'Kitchen build.')
        build.info({'version': '1.2.3', 'chef': 'Ada "the" Cook'})

        self.clean()

    @timing.observed
    def clean(self):
        with timing.Observe(self, 'rinse'):
            sum(range(1000))
