from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0002_worker_beat_public_base_url'),
    ]

    operations = [
        migrations.AddField(
            model_name='workerbeat',
            name='kind',
            field=models.CharField(choices=[('worker', '后台进程'), ('web', '网站服务进程')], default='worker', max_length=10),
        ),
    ]
